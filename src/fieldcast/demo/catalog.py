"""The demo catalog for `fieldcast demo`: the stories' products on their organisations' storefronts,
with suppliers, SKUs, pictures, sampling inspections and two storefront brands.

Everything goes through the catalog actions, acted by demo users who hold the roles those actions
ask for, so the rules and the audit log hold as for real users; everything is marked `is_demo`.
Suppliers, people and certificates are invented; products and places come from the 2020 stories.
The pictures are drawn by `fieldcast.demo.pictures`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Organisation, User
from fieldcast.catalog import actions
from fieldcast.catalog import schemas as s
from fieldcast.catalog.models import Category, InspectionResult, Product, Supplier, SupplierKind
from fieldcast.catalog.queries import list_suppliers, today_local
from fieldcast.db.uow import UnitOfWork
from fieldcast.demo.authorities import authority_for
from fieldcast.demo.pictures import LOGO_SIZE, draw_picture

# Keys of the people in fieldcast.demo.PEOPLE who act here; demo.py grants them the roles.
ORGANISER_KEY = "organiser"  # owner/organiser actions: suppliers, products, unit costs, publishing
INSPECTOR_KEY = "inspector"  # records the sampling inspections, for each county's office
SUPPLIER_KEY = "supplier"  # the Dabeishan cooperative's member adds its own product pictures
INSPECTION_NOTE = "演示数据：检验机构名称仅作示意，证书编号与检验结果均为虚构。"


@dataclass(frozen=True)
class _Supplier:
    key: str
    org: str
    name: str
    kind: SupplierKind
    region: str
    contact_name: str
    contact_phone: str
    address: str = ""


@dataclass(frozen=True)
class _Inspection:
    lab: str
    items: tuple[str, ...]
    sampled_days_ago: int
    valid_days: int  # valid_until = sample date + valid_days; shorter than sampled_days_ago = expired


@dataclass(frozen=True)
class _Product:
    org: str
    supplier: str
    title: str
    description: str
    category: Category
    region: str
    skus: tuple[s.SkuIn, ...]
    picture: str
    inspection: _Inspection | None
    publish: bool = True
    pictures_by: str = ORGANISER_KEY


@dataclass(frozen=True)
class _Brand:
    org: str
    owner: str  # key of a person who owns the organisation (its creator)
    name: str
    logo: str


def _sku(
    label: str,
    price_fen: int,
    cost_fen: int,
    weight_g: int,
    shelf_life_days: int | None,
    stock: int,
    per_buyer_limit: int | None = None,
) -> s.SkuIn:
    return s.SkuIn(
        spec_label=label,
        price_fen=price_fen,
        unit_cost_fen=cost_fen,
        weight_g=weight_g,
        shelf_life_days=shelf_life_days,
        stock=stock,
        per_buyer_limit=per_buyer_limit,
    )


def _lab(county: str) -> str:
    return f"{county}市场监督管理局检验检测中心"


SUPPLIERS: tuple[_Supplier, ...] = (
    _Supplier("yanghe-berries", "yanghe-town", "胶州市洋河镇山前蓝莓种植合作社", SupplierKind.COOPERATIVE,
              "370281", "蔡红梅", "0532-0000001", "山东省胶州市洋河镇山前村"),
    _Supplier("dabeishan-coop", "dabeishan-village", "靖宇县龙泉镇大北山村股份经济合作社", SupplierKind.COOPERATIVE,
              "220622", "林桂芝", "0439-0000000", "吉林省靖宇县龙泉镇大北山村村委会"),
    # The association sells a member village's goods, so it records the same cooperative as its supplier.
    _Supplier("association-coop", "jilin-first-secretaries", "靖宇县龙泉镇大北山村股份经济合作社",
              SupplierKind.COOPERATIVE, "220622", "林桂芝", "0439-0000000"),
    _Supplier("henan-jerky", "henan-county", "河南县草原牦牛肉制品加工厂", SupplierKind.FACTORY,
              "632324", "仁青措", "0973-0000000", "青海省河南县优干宁镇工业园"),
    _Supplier("fengcheng-rice", "fengcheng-city", "丰城市富硒稻米专业合作社", SupplierKind.COOPERATIVE,
              "360981", "熊建华", "0795-0000000"),
    _Supplier("zhenping-koi", "zhenping-county", "镇平县向寨村老向锦鲤塘", SupplierKind.FARMER,
              "411324", "老向", "0377-0000000", "河南省镇平县侯集镇向寨村"),
    _Supplier("zhenping-jade", "zhenping-county", "镇平县石佛寺玉雕专业合作社", SupplierKind.COOPERATIVE,
              "411324", "老周", "0377-0000001", "河南省镇平县石佛寺镇"),
    _Supplier("zigui-oranges", "zigui-county", "秭归县江畔脐橙专业合作社", SupplierKind.COOPERATIVE,
              "420527", "望春生", "0717-0000000"),
    _Supplier("qianjiang-crayfish", "qianjiang-city", "潜江市虾稻共作养殖合作社", SupplierKind.COOPERATIVE,
              "429005", "付志刚", "0728-0000000"),
    _Supplier("qinyuan-codonopsis", "qinyuan-county", "沁源县党参种植专业合作社", SupplierKind.COOPERATIVE,
              "140431", "郝玉梅", "0355-0000000"),
    _Supplier("qinyuan-yuba", "qinyuan-county", "沁源县豆制品加工厂", SupplierKind.FACTORY,
              "140431", "任国庆", "0355-0000001"),
    _Supplier("linxian-dates", "linxian-county", "临县黄河滩枣专业合作社", SupplierKind.COOPERATIVE,
              "141124", "高树林", "0358-0000000"),
    _Supplier("wanrong-apples", "wanrong-county", "万荣县南坡苹果专业合作社", SupplierKind.COOPERATIVE,
              "140822", "薛文斌", "0359-0000000"),
    # SupplierKind has no dealer; "factory" stands for any firm that ships the goods.
    _Supplier("panyu-cars", "panyu-district", "番禺汽车销售服务演示有限公司", SupplierKind.FACTORY,
              "440113", "黎嘉豪", "020-00000000", "广东省广州市番禺区"),
    _Supplier("doumen-aircraft", "doumen-aviation", "斗门通航示范制造有限公司", SupplierKind.FACTORY,
              "440403", "梁思远", "0756-0000000", "广东省珠海市斗门区"),
)  # fmt: skip

PRODUCTS: tuple[_Product, ...] = (
    _Product(
        "yanghe-town", "yanghe-berries", "胶州洋河蓝莓 当季鲜果 按斤装",
        "胶州市洋河镇农户种植的蓝莓，当天采摘、分拣后装盒，冰袋加泡沫箱发货。果面的一层白霜是天然果粉。"
        "收到后请冷藏，5天内吃完。2斤装净重约1000克，5斤装净重约2500克，不含包装和冰袋。",
        Category.FRESH_PRODUCE, "370281",
        (_sku("2斤装", 6_980, 4_200, 1_300, 7, 300), _sku("5斤装", 15_800, 9_800, 2_900, 7, 120)),
        "blueberries",
        _Inspection(_lab("胶州市"), ("农药残留（毒死蜱、多菌灵等）", "铅（以Pb计）", "镉（以Cd计）"), 6, 90),
    ),
    _Product(
        "dabeishan-village", "dabeishan-coop", "长白山大北山村 秋木耳 干货",
        "靖宇县大北山村村民在林下段木上种植的黑木耳，秋季采收后自然晾干，由村合作社统一分拣、包装并一件代发。"
        "食用前用清水泡发、洗净。",
        Category.PROCESSED_FOOD, "220622",
        (_sku("250克袋装", 3_980, 2_300, 320, 540, 400), _sku("500克礼盒", 7_580, 4_500, 700, 540, 150)),
        "wood_ear",
        _Inspection(_lab("靖宇县"), ("二氧化硫残留量", "铅（以Pb计）", "水分", "掺杂物检查"), 12, 180),
        pictures_by=SUPPLIER_KEY,
    ),
    _Product(
        "dabeishan-village", "dabeishan-coop", "大北山村 山野菜 蕨菜干",
        "村民春季在山上采摘的蕨菜，焯水后晒干。食用前用温水泡发两小时以上，适合炒肉或凉拌。"
        "本批刚上架，市场监管部门的抽检还在排期中。",
        Category.PROCESSED_FOOD, "220622",
        (_sku("200克袋装", 2_980, 1_600, 260, 365, 200),),
        "ferns",
        None,  # the demo's product without an inspection: it may be sold, but not on a public-welfare shelf
        pictures_by=SUPPLIER_KEY,
    ),
    _Product(
        "jilin-first-secretaries", "association-coop", "吉林第一书记好物 长白山山货组合",
        "吉林省驻村第一书记协会与大北山村合作社一起推出的组合装：秋木耳250克、榛蘑150克，由合作社统一发货。"
        "放在阴凉干燥处保存。",
        Category.PROCESSED_FOOD, "220622",
        (_sku("组合装（木耳250克+榛蘑150克）", 6_580, 3_900, 600, 365, 100),),
        "gift_box",
        _Inspection(_lab("靖宇县"), ("二氧化硫残留量", "铅（以Pb计）", "总砷（以As计）"), 12, 180),
    ),
    _Product(
        "henan-county", "henan-jerky", "河南县 风干牦牛肉干 原味",
        "青海省河南蒙古族自治县牧区的牦牛肉，切条后风干制成，配料为牦牛肉和食用盐。"
        "根据直播间买家的反馈，新增了100克小包装，发货改由县城仓库直发。开封后请密封保存。",
        Category.PROCESSED_FOOD, "632324",
        (_sku("500克袋装", 16_800, 11_000, 600, 180, 200), _sku("100克小包装", 3_980, 2_500, 140, 180, 600)),
        "jerky",
        _Inspection(
            "黄南州食品检验检测中心",
            ("菌落总数", "大肠菌群", "亚硝酸盐（以NaNO₂计）", "苯甲酸及其钠盐", "水分"),
            9,
            180,
        ),
    ),
    _Product(
        "fengcheng-city", "fengcheng-rice", "丰城富硒大米 当季新米",
        "江西省丰城市富硒土壤区域种植的籼米，米粒细长，煮饭偏软。每批送检硒含量，数值写在检验报告里。"
        "请放在阴凉干燥处，开袋后尽快吃完。",
        Category.PROCESSED_FOOD, "360981",
        (_sku("5公斤装", 6_990, 4_300, 5_150, 365, 500), _sku("10公斤装", 12_990, 8_200, 10_250, 365, 300)),
        "rice",
        _Inspection(
            _lab("丰城市"), ("镉（以Cd计）", "无机砷（以As计）", "黄曲霉毒素B₁", "硒含量（GB/T 22499）"), 15, 180
        ),
    ),
    # Left as a draft on purpose: organisers signing in see the claim checker's warnings on it.
    _Product(
        "fengcheng-city", "fengcheng-rice", "丰城富硒大米 抗氧化 提高免疫力",
        "富硒土地上种出的大米，颗粒饱满、口感软糯，具有抗氧化、提高免疫力等功效。"
        "（演示草稿：普通食品的广告不得宣称这类功效，改掉这两处用语后才能发布。）",
        Category.PROCESSED_FOOD, "360981",
        (_sku("5公斤装", 6_990, 4_300, 5_150, 365, 100),),
        "rice",
        None,
        publish=False,
    ),
    # Ornamental koi are not food, but no category fits live animals: fresh produce is the closest
    # (an aquaculture product that is shipped alive against the clock). Its required shelf life
    # carries how long a fish lasts in its oxygen bag; the text says the fish is not for eating.
    _Product(
        "zhenping-county", "zhenping-koi", "镇平观赏锦鲤 单尾发货",
        "河南镇平县向寨村鱼塘养殖的观赏锦鲤，供观赏，非食用。发货前停食两天，每尾单独装入充氧袋，"
        "外加泡沫箱，航空快递发出，一般48小时内送达。到货后先把袋子放在鱼缸里漂浮20分钟，再放鱼。",
        Category.FRESH_PRODUCE, "411324",
        (
            _sku("红白 体长15–20厘米 1尾", 16_800, 9_000, 3_000, 3, 80, per_buyer_limit=10),
            _sku("大正三色 体长25–30厘米 1尾", 58_800, 32_000, 6_000, 3, 30, per_buyer_limit=5),
        ),
        "koi",
        _Inspection(
            "镇平县动物疫病预防控制中心", ("锦鲤疱疹病毒病（KHV）", "鲤春病毒血症（SVC）", "外观检查"), 4, 60
        ),
    ),
    # The koi show's second shelf item, at a price a county office can make its cadres spend: the
    # demo's quota show (demo/integrity.py) has six of them buy one each, 50.22 yuan apiece.
    _Product(
        "zhenping-county", "zhenping-jade", "镇平玉雕 平安扣挂件",
        "河南镇平县石佛寺镇玉雕合作社手工雕刻的平安扣挂件，配红绳，单个装盒。天然石料，纹理颜色各不相同，以实物为准。",
        Category.HANDICRAFT, "411324",
        (_sku("平安扣 直径约2厘米", 5_580, 3_000, 50, None, 300),),
        "gift_box",
        _Inspection("南阳市产品质量检验检测中心", ("玉石材质鉴定", "挂绳牢固度"), 10, 365),
    ),
    _Product(
        "zigui-county", "zigui-oranges", "秭归脐橙 当季鲜果 按斤装",
        "湖北省秭归县长江沿岸果园的脐橙，在树上挂熟后采摘，不打蜡，分拣后装箱。常温可放两周左右，冷藏更久。",
        Category.FRESH_PRODUCE, "420527",
        (_sku("5斤装", 3_990, 2_300, 2_750, 20, 800), _sku("10斤装", 6_990, 4_200, 5_400, 20, 500)),
        "oranges",
        _Inspection(_lab("秭归县"), ("农药残留（三唑磷、水胺硫磷等）", "抑霉唑", "咪鲜胺", "铅（以Pb计）"), 8, 90),
    ),
    _Product(
        "qianjiang-city", "qianjiang-crayfish", "潜江鲜活小龙虾 3斤装",
        "湖北潜江虾稻共作田里养殖的克氏原螯虾，当天捕捞、分拣，冰袋加泡沫箱冷链发货，只发冷链可达地区。"
        "收到后请冷藏，24小时内烹制，死虾请勿食用。",
        Category.FRESH_PRODUCE, "429005",
        (
            _sku("中号（每只约4–6钱）3斤", 12_800, 8_500, 2_400, 2, 400),
            _sku("大号（每只约6–8钱）3斤", 16_800, 11_500, 2_400, 2, 200),
        ),
        "crayfish",
        _Inspection(_lab("潜江市"), ("孔雀石绿", "氯霉素", "恩诺沙星", "镉（以Cd计）"), 3, 60),
    ),
    _Product(
        "qinyuan-county", "qinyuan-codonopsis", "沁源党参 切段 干货",
        "山西省沁源县山区种植的党参，秋季采挖，晾晒后切段，可用于煲汤、炖菜。请放在阴凉干燥处。",
        Category.PROCESSED_FOOD, "140431",
        (_sku("250克袋装", 5_980, 3_600, 300, 730, 300), _sku("500克罐装", 10_980, 6_800, 700, 730, 120)),
        "codonopsis",
        _Inspection(_lab("沁源县"), ("二氧化硫残留量", "铅（以Pb计）", "镉（以Cd计）", "农药残留"), 20, 180),
    ),
    _Product(
        "qinyuan-county", "qinyuan-yuba", "沁源腐竹 黄豆制 干货",
        "沁源县豆制品厂用本地黄豆磨浆、挑皮、晾干制成的腐竹，配料为黄豆和水。涮火锅或凉拌前用凉水泡发3小时。",
        Category.PROCESSED_FOOD, "140431",
        (_sku("500克袋装", 2_980, 1_700, 560, 365, 400),),
        "yuba",
        _Inspection(
            _lab("沁源县"), ("甲醛次硫酸氢钠（吊白块）", "碱性嫩黄", "二氧化硫残留量", "蛋白质"), 20, 180
        ),
    ),
    _Product(
        "linxian-county", "linxian-dates", "临县红枣 干枣 分级装",
        "山西省临县黄河沿岸枣园的红枣，秋季自然晾干后分级装箱。可直接吃，也可煮粥、煲汤。开封后放在阴凉通风处。",
        Category.PROCESSED_FOOD, "141124",
        (_sku("1公斤袋装", 3_280, 1_900, 1_100, 365, 400), _sku("2.5公斤箱装", 6_980, 4_200, 2_800, 365, 200)),
        "red_dates",
        # Sampled in last year's season and not yet re-sampled: the demo's expired inspection.
        _Inspection(_lab("临县"), ("二氧化硫残留量", "农药残留", "霉变粒", "水分"), 400, 365),
    ),
    _Product(
        "wanrong-county", "wanrong-apples", "万荣苹果 红富士 箱装",
        "山西省万荣县果园的红富士苹果，按果径分级，每个套网套后装箱。冷藏可保存一个月左右。",
        Category.FRESH_PRODUCE, "140822",
        (
            _sku("10斤箱装（果径80毫米以上）", 6_980, 4_000, 5_600, 30, 500),
            _sku("5斤箱装（果径75毫米以上）", 3_680, 2_100, 2_900, 30, 500),
        ),
        "apples",
        _Inspection(_lab("万荣县"), ("农药残留（毒死蜱、多菌灵等）", "铅（以Pb计）", "感官检验"), 10, 90),
    ),
    _Product(
        "panyu-district", "panyu-cars", "广汽传祺 紧凑型轿车 网上订车到店提车",
        "番禺本地生产的广汽传祺乘用车。网上付款下单后，经销店联系买家约定验车、上牌和提车时间。"
        "本页价格为演示数据，成交价以经销店的购车合同为准。",
        Category.VEHICLES, "440113",
        (
            _sku("1.5T 自动 舒适版", 10_000_000, 9_200_000, 1_400_000, None, 50, per_buyer_limit=1),
            _sku("1.5T 自动 豪华版", 11_800_000, 10_800_000, 1_450_000, None, 30, per_buyer_limit=1),
        ),
        "car",
        _Inspection(
            "广州市番禺区市场监督管理局",
            ("强制性产品认证（CCC）证书核对", "车辆一致性证书核对", "出厂合格证核对"),
            14,
            365,
        ),
    ),
    _Product(
        "doumen-aviation", "doumen-aircraft", "SkyTrek 两座轻型运动飞机 标准型",
        "珠海市斗门区生产的两座轻型运动飞机，可用于私人飞行和飞行执照培训。下单后可预约到斗门试飞验货，"
        "交付前由厂家协助办理登记和适航手续。本页价格为演示数据。",
        Category.AIRCRAFT, "440403",
        (_sku("标准型（基本航电）", 68_000_000, 55_000_000, 360_000, None, 5, per_buyer_limit=1),),
        "aircraft",
        _Inspection(
            "珠海市斗门区市场监督管理局",
            ("型号合格证核对", "生产许可证核对", "出厂检验记录核对", "铭牌核对"),
            30,
            365,
        ),
    ),
)  # fmt: skip

BRANDS: tuple[_Brand, ...] = (
    _Brand("fengcheng-city", "owner", "丰城好物", "logo_rice"),
    _Brand("jilin-first-secretaries", "admin", "吉林第一书记好物", "logo_mountains"),
)

# Organisations with products: the demo organiser and inspector hold their roles in each.
STOREFRONT_SLUGS: tuple[str, ...] = tuple(dict.fromkeys(p.org for p in PRODUCTS))


async def is_seeded(session: AsyncSession, orgs: Mapping[str, Organisation]) -> bool:
    """Whether the demo catalog is there (it is seeded in one transaction: all of it or none)."""
    for slug in STOREFRONT_SLUGS:
        if await list_suppliers(session, orgs[slug].id):
            return True
    return False


async def seed_catalog(
    uow: UnitOfWork, media_dir: Path, users: Mapping[str, User], orgs: Mapping[str, Organisation]
) -> None:
    """Suppliers, products with SKUs and pictures, inspections, publishing and brands, in `uow`."""
    organiser, inspector = users[ORGANISER_KEY], users[INSPECTOR_KEY]
    today = today_local()
    suppliers: dict[str, Supplier] = {}
    for sup in SUPPLIERS:
        data = s.SupplierIn(
            name=sup.name,
            kind=sup.kind,
            ship_from_region=sup.region,
            contact_name=sup.contact_name,
            contact_phone=sup.contact_phone,
            address=sup.address,
        )
        suppliers[sup.key] = await actions.create_supplier(uow, organiser, orgs[sup.org], data, is_demo=True)
    to_publish: list[Product] = []
    for number, item in enumerate(PRODUCTS, start=1):
        product = await actions.create_product(
            uow,
            organiser,
            orgs[item.org],
            s.ProductIn(
                supplier_id=suppliers[item.supplier].id,
                title=item.title,
                description=item.description,
                category=item.category,
                origin_region=item.region,
                skus=list(item.skus),
            ),
            is_demo=True,
        )
        picture = draw_picture(item.picture, seed=number)
        await actions.add_product_image(uow, users[item.pictures_by], product, picture, media_dir, alt=item.title)
        if item.inspection is not None:
            data_in = _inspection_in(item.inspection, item.region, number, today)
            await actions.record_inspection(uow, inspector, product, data_in, today=today, is_demo=True)
        if item.publish:
            to_publish.append(product)
    # Newest first on the storefronts: publish in reverse so the list reads in the stories' order.
    for product in reversed(to_publish):
        await actions.publish_product(uow, organiser, product, s.PublishIn())
    for brand in BRANDS:
        logo = draw_picture(brand.logo, seed=0, size=LOGO_SIZE)
        await actions.set_brand(
            uow, users[brand.owner], orgs[brand.org], brand_name=brand.name, logo=logo, media_dir=media_dir
        )


def _inspection_in(inspection: _Inspection, region: str, number: int, today: date) -> s.InspectionIn:
    sampled = today - timedelta(days=inspection.sampled_days_ago)
    return s.InspectionIn(
        authority=authority_for(region),  # the county's market-supervision office
        sample_date=sampled,
        lab_name=inspection.lab,
        certificate_no=f"DEMO-{region}-{sampled:%Y%m%d}-{number:03d}",
        items_checked=list(inspection.items),
        result=InspectionResult.PASS,
        valid_until=sampled + timedelta(days=inspection.valid_days),
        notes=INSPECTION_NOTE,
    )
