"""Demo data for `fieldcast demo`, and the platform-administrator set-up behind `create-admin`.

The demo is seeded through the real account and catalog actions, so the audit log and every rule
hold as for real users; everything it creates is marked `is_demo`. People are invented; places,
roles and products are taken from the 2020 news stories the product is built from. The catalog
part (suppliers, products, inspections, brands) lives in `fieldcast.demo.catalog`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fieldcast.accounts import actions
from fieldcast.accounts import queries as q
from fieldcast.accounts.models import HostKind, Organisation, OrgKind, Role, User
from fieldcast.accounts.schemas import OrganisationIn, SignUpIn, VerificationIn
from fieldcast.accounts.security import id_number_with_check_digit
from fieldcast.commerce.gate import make_gate
from fieldcast.config import Settings
from fieldcast.db.engine import Database
from fieldcast.db.uow import UnitOfWork
from fieldcast.demo.aftersales import seed_aftersales
from fieldcast.demo.authorities import AUTHORITY_SLUGS, create_authorities, verify, verify_authorities
from fieldcast.demo.catalog import INSPECTOR_KEY, ORGANISER_KEY, STOREFRONT_SLUGS, is_seeded, seed_catalog
from fieldcast.demo.clips import seed_clips
from fieldcast.demo.coupons import seed_coupons
from fieldcast.demo.fulfilment import seed_fulfilment
from fieldcast.demo.integrity import seed_quota_show
from fieldcast.demo.live import EVENT_SLUG, ROOMS, is_live_seeded, seed_live
from fieldcast.demo.minutes import seed_show_minutes
from fieldcast.demo.reviews import seed_reviews
from fieldcast.demo.shop import Shop, seed_buyer_orders
from fieldcast.payments.providers import make_payment_provider

# The validator behind EmailStr refuses special-use names such as `.invalid` and `.test`, so the
# demo uses a subdomain of example.org, which IANA reserves for examples (RFC 2606) and never mails.
DEMO_EMAIL_DOMAIN = "demo.example.org"
DEMO_PASSWORD = "fieldcast-demo"  # noqa: S105 -- public on purpose: printed for every demo account
ADMIN_KEY = "admin"
REVIEWER_KEY = "reviewer"
BUYER_KEY = "viewer"  # the printed buyer: a demo address and paid demo orders at /orders
EVIDENCE_NOTE = "演示数据：人物为虚构，任职信息仅供演示，不对应任何真实人员。"
APPROVAL_REASON = "演示数据：任职材料已核对。"
# The expired demo verification was approved during the 2020 campaign, for one year.
EXPIRED_APPROVED_AT = datetime(2020, 4, 1, 2, 0, tzinfo=UTC)
EXPIRED_VALID_DAYS = 365


@dataclass(frozen=True)
class DemoLogin:
    """One account to try the demo with, as printed after seeding."""

    role: str
    email: str
    password: str
    note: str


@dataclass(frozen=True)
class _Org:
    slug: str
    name: str
    kind: OrgKind
    region: str
    description: str
    created_by: str = ADMIN_KEY  # the creator becomes its first owner
    jurisdiction: str = ""  # a government's region code: it is verified for this jurisdiction


@dataclass(frozen=True)
class _Verification:
    legal_name: str
    id_first17: str  # completed with its check digit; region prefix of the host's county
    host_kind: HostKind
    position_title: str
    jurisdiction: str
    state: str = "approved"  # approved | pending | expired


def _in_every_storefront(role: Role) -> tuple[tuple[str, Role], ...]:
    """The demo organiser acts in every organisation with products, so one login shows the whole
    catalog (in real use each organisation has its own)."""
    return tuple((slug, role) for slug in STOREFRONT_SLUGS)


@dataclass(frozen=True)
class _Person:
    key: str
    email_local: str
    display_name: str
    note: str
    login_role: str = ""  # printed in the logins table when set
    memberships: tuple[tuple[str, Role], ...] = ()
    verification: _Verification | None = None
    is_platform_admin: bool = False

    @property
    def email(self) -> str:
        return f"{self.email_local}@{DEMO_EMAIL_DOMAIN}"


ORGANISATIONS: tuple[_Org, ...] = (
    _Org(
        slug="yanghe-town",
        name="胶州市洋河镇人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="370281",
        region="山东省青岛市胶州市",
        description=(
            "洋河镇的农户种植蓝莓，鲜果按斤卖。镇干部在直播间介绍当天采摘的果子，"
            "不直播的日子里店铺照常开放，网友随时能找到购买链接。"
        ),
    ),
    _Org(
        slug="dabeishan-village",
        name="靖宇县龙泉镇大北山村股份经济合作社",
        kind=OrgKind.COOPERATIVE,
        region="吉林省白山市靖宇县",
        description=(
            "合作社收购村民采集的山货，统一加工、包装和送检，再由合作社一件代发，村民不必再提着篮子在路边等买主。"
        ),
    ),
    _Org(
        slug="jilin-first-secretaries",
        name="吉林省驻村第一书记协会",
        kind=OrgKind.ASSOCIATION,
        region="吉林省",
        description="驻村第一书记们组成的协会：共用直播间和统一标识，互相带货，并帮各村培养本地的年轻主播。",
    ),
    _Org(
        slug="henan-county",
        name="河南蒙古族自治县人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="632324",
        region="青海省黄南藏族自治州河南蒙古族自治县",
        description=(
            "高原牧区，以牦牛和欧拉羊养殖为主，牦牛肉干是主打产品。"
            "每场直播后收集买家反馈，已按意见推出小包装并缩短发货时间。"
        ),
    ),
    _Org(
        slug="fengcheng-city",
        name="丰城市人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="360981",
        region="江西省宜春市丰城市",
        description=(
            "富硒土地上种出的大米是丰城的招牌。618 当天六个直播间同时开播，"
            "近百种农产品和本地工业品上架，每一款都先经市场监管部门抽检合格。"
        ),
        created_by="owner",
    ),
    _Org(
        slug="zhenping-county",
        name="镇平县人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="411324",
        region="河南省南阳市镇平县",
        description="镇平是观赏锦鲤的产区，许多养殖户就在自家鱼塘边开播。活鱼发货需要专门的包装和准时的快递。",
    ),
    _Org(
        slug="zigui-county",
        name="秭归县人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="420527",
        region="湖北省宜昌市秭归县",
        description="秭归脐橙产地直发，按斤计价，县里干部在果园里直播采摘和装箱。",
    ),
    _Org(
        slug="qianjiang-city",
        name="潜江市人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="429005",
        region="湖北省潜江市",
        description="潜江的小龙虾从养殖到加工连成一条产业链，鲜活虾和调味虾都走冷链配送。",
    ),
    _Org(
        slug="doumen-district",
        name="珠海市斗门区人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="440403",
        region="广东省珠海市斗门区",
        description="斗门发展通用航空产业，区里在直播中推介本地制造的轻型运动飞机，买家可以预约到场试飞验货。",
    ),
    _Org(
        slug="doumen-aviation",
        name="斗门通航示范制造有限公司",
        kind=OrgKind.ENTERPRISE,
        region="广东省珠海市斗门区",
        description="虚构的演示企业。生产 SkyTrek 轻型运动飞机，可用于私人飞行和飞行执照培训。",
    ),
    _Org(
        slug="qinyuan-county",
        name="沁源县人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="140431",
        region="山西省长治市沁源县",
        description="沁源出产党参、腐竹和艾草制品，县里把这些山区特产搬进直播间。",
    ),
    _Org(
        slug="panyu-district",
        name="广州市番禺区人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="440113",
        region="广东省广州市番禺区",
        description="汽车制造是番禺的支柱产业之一。区里在直播中推介本地生产的乘用车，网上订车、到店提车。",
    ),
    _Org(
        slug="linxian-county",
        name="临县人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="141124",
        region="山西省吕梁市临县",
        description="临县红枣产量大，县里借直播打开销路，并扶持本地农户和企业开设自己的网店。",
    ),
    _Org(
        slug="wanrong-county",
        name="万荣县人民政府",
        kind=OrgKind.GOVERNMENT,
        jurisdiction="140822",
        region="山西省运城市万荣县",
        description="万荣苹果按箱发售，直播时向果农传递分级、标准化生产的要求。",
    ),
)


PEOPLE: tuple[_Person, ...] = (
    _Person(
        key=ADMIN_KEY,
        email_local="admin",
        display_name="演示平台管理员",
        note="reviews host verifications, reads the audit log",
        login_role="platform admin",
        is_platform_admin=True,
    ),
    # Owns no organisation, so it may verify the demo's governments and authorities (an admin
    # never decides for an organisation they belong to).
    _Person(
        key=REVIEWER_KEY,
        email_local="reviewer",
        display_name="演示审核员",
        note="platform admin who verified the demo governments and market-supervision offices",
        is_platform_admin=True,
    ),
    _Person(
        key="owner",
        email_local="owner.fengcheng",
        display_name="邹文静",
        note="丰城市商务局 · owner of fengcheng-city",
        login_role="owner",
    ),
    _Person(
        key=ORGANISER_KEY,
        email_local="organiser.fengcheng",
        display_name="万思琪",
        note="丰城市商务局 · schedules the 618 rooms; in the demo organiser of every storefront (sees the draft)",
        login_role="organiser",
        memberships=_in_every_storefront(Role.ORGANISER),
    ),
    _Person(
        key="host-yanghe",
        email_local="host.yanghe",
        display_name="孟凡青",
        note="洋河镇党委副书记 · blueberries",
        login_role="host (official)",
        memberships=(("yanghe-town", Role.HOST),),
        verification=_Verification(
            legal_name="孟凡青",
            id_first17="37028119790312041",
            host_kind=HostKind.OFFICIAL,
            position_title="洋河镇党委副书记",
            jurisdiction="山东省青岛市胶州市洋河镇",
        ),
    ),
    _Person(
        key="host-dabeishan",
        email_local="host.dabeishan",
        display_name="韩立松",
        note="大北山村驻村第一书记 · mountain produce",
        login_role="host (village first secretary)",
        memberships=(("dabeishan-village", Role.HOST), ("jilin-first-secretaries", Role.HOST)),
        verification=_Verification(
            legal_name="韩立松",
            id_first17="22062219850716053",
            host_kind=HostKind.FIRST_SECRETARY,
            position_title="大北山村驻村第一书记",
            jurisdiction="吉林省白山市靖宇县龙泉镇大北山村",
        ),
    ),
    _Person(
        key="farmer-xiangzhai",
        email_local="farmer.xiangzhai",
        display_name="锦鲤老向",
        note="向寨村锦鲤养殖户 (legal name differs from display name)",
        login_role="host (farmer)",
        memberships=(("zhenping-county", Role.HOST),),
        verification=_Verification(
            legal_name="向德福",
            id_first17="41132419680925071",
            host_kind=HostKind.FARMER,
            position_title="锦鲤养殖户",
            jurisdiction="河南省南阳市镇平县侯集镇向寨村",
        ),
    ),
    _Person(
        key="staff-doumen-aviation",
        email_local="staff.doumen-aviation",
        display_name="梁思远",
        note="斗门通航示范制造有限公司 · SkyTrek aircraft",
        login_role="host (enterprise staff)",
        memberships=(("doumen-aviation", Role.HOST),),
        verification=_Verification(
            legal_name="梁思远",
            id_first17="44040319920203032",
            host_kind=HostKind.ENTERPRISE_STAFF,
            position_title="市场部直播专员",
            jurisdiction="广东省珠海市斗门区",
        ),
    ),
    _Person(
        key="host-henan",
        email_local="host.henan",
        display_name="其木格",
        note="河南蒙古族自治县县长 · yak jerky",
        memberships=(("henan-county", Role.HOST),),
        verification=_Verification(
            legal_name="其木格",
            id_first17="63232419780418062",
            host_kind=HostKind.OFFICIAL,
            position_title="河南蒙古族自治县县长",
            jurisdiction="青海省黄南藏族自治州河南蒙古族自治县",
        ),
    ),
    _Person(
        key="host-fengcheng",
        email_local="host.fengcheng",
        display_name="彭语桐",
        note="团市委干部 · 丰城618直播带货官",
        memberships=(("fengcheng-city", Role.HOST),),
        verification=_Verification(
            legal_name="彭语桐",
            id_first17="36098119900822044",
            host_kind=HostKind.OFFICIAL,
            position_title="共青团丰城市委干部（618直播带货官）",
            jurisdiction="江西省宜春市丰城市",
        ),
    ),
    _Person(
        key="host-zhenping",
        email_local="host.zhenping",
        display_name="曹景明",
        note="镇平县副县长 · koi",
        memberships=(("zhenping-county", Role.HOST),),
        verification=_Verification(
            legal_name="曹景明",
            id_first17="41132419760530013",
            host_kind=HostKind.OFFICIAL,
            position_title="镇平县副县长",
            jurisdiction="河南省南阳市镇平县",
        ),
    ),
    _Person(
        key="host-zigui",
        email_local="host.zigui",
        display_name="谭秀兰",
        note="秭归县副县长 · navel oranges",
        memberships=(("zigui-county", Role.HOST),),
        verification=_Verification(
            legal_name="谭秀兰",
            id_first17="42052719811109028",
            host_kind=HostKind.OFFICIAL,
            position_title="秭归县副县长",
            jurisdiction="湖北省宜昌市秭归县",
        ),
    ),
    _Person(
        key="host-doumen",
        email_local="host.doumen",
        display_name="冼志航",
        note="斗门区区长 · light-sport aircraft",
        memberships=(("doumen-district", Role.HOST),),
        verification=_Verification(
            legal_name="冼志航",
            id_first17="44040319720614035",
            host_kind=HostKind.OFFICIAL,
            position_title="斗门区区长",
            jurisdiction="广东省珠海市斗门区",
        ),
    ),
    _Person(
        key="host-qinyuan",
        email_local="host.qinyuan",
        display_name="温晓东",
        note="沁源县县长 · codonopsis, yuba",
        memberships=(("qinyuan-county", Role.HOST),),
        verification=_Verification(
            legal_name="温晓东",
            id_first17="14043119830127057",
            host_kind=HostKind.OFFICIAL,
            position_title="沁源县县长",
            jurisdiction="山西省长治市沁源县",
        ),
    ),
    _Person(
        key="host-pending",
        email_local="pending.yanghe",
        display_name="姜春燕",
        note="洋河镇蓝莓种植户 · verification waiting for review",
        login_role="host (pending verification)",
        memberships=(("yanghe-town", Role.HOST),),
        verification=_Verification(
            legal_name="姜春燕",
            id_first17="37028119880403026",
            host_kind=HostKind.FARMER,
            position_title="蓝莓种植户",
            jurisdiction="山东省青岛市胶州市洋河镇",
            state="pending",
        ),
    ),
    _Person(
        key="host-expired",
        email_local="expired.linxian",
        display_name="贺彦斌",
        note="临县副县长 · red dates; verification expired",
        login_role="host (verification expired)",
        memberships=(("linxian-county", Role.HOST),),
        verification=_Verification(
            legal_name="贺彦斌",
            id_first17="14112419750810019",
            host_kind=HostKind.OFFICIAL,
            position_title="临县副县长",
            jurisdiction="山西省吕梁市临县",
            state="expired",
        ),
    ),
    _Person(
        key="supplier",
        email_local="supplier.dabeishan",
        display_name="林桂芝",
        note="大北山村合作社 · ships mountain produce (一件代发)",
        login_role="supplier",
        memberships=(("dabeishan-village", Role.SUPPLIER),),
    ),
    _Person(
        key=INSPECTOR_KEY,
        email_local="inspector.fengcheng",
        display_name="钟国梁",
        note="市场监督管理局 · samples products before listing; in the demo inspector of every county's office",
        login_role="inspector",
        memberships=tuple((slug, Role.INSPECTOR) for slug in AUTHORITY_SLUGS),
    ),
    _Person(
        key="supervisor",
        email_local="supervisor.fengcheng",
        display_name="于海波",
        note="丰城市纪委监委 · reads integrity reports (read-only)",
        login_role="supervisor",
        memberships=(("fengcheng-city", Role.SUPERVISOR),),
    ),
    _Person(
        key=BUYER_KEY,
        email_local="viewer",
        display_name="夏雨萌",
        note="watches, chats and buys; no organisation; paid demo orders at /orders",
        login_role="buyer",
    ),
)


@dataclass
class _Seeded:
    users: dict[str, User] = field(default_factory=dict)
    orgs: dict[str, Organisation] = field(default_factory=dict)


def demo_logins() -> list[DemoLogin]:
    """The accounts worth trying, one per role (all demo accounts share one password)."""
    return [
        DemoLogin(role=p.login_role, email=p.email, password=DEMO_PASSWORD, note=p.note) for p in PEOPLE if p.login_role
    ]


async def seed(settings: Settings) -> list[DemoLogin]:
    """Create the demo organisations, people, memberships, verifications, catalog and live rooms,
    once, then the printed buyer's paid demo orders.

    The first part happens in one transaction, so a database is either fully seeded or not at
    all; a second run finds the demo administrator and the catalog and changes nothing. A database
    seeded before the demo had a catalog gets the catalog, and the roles it needs, added. The
    buyer's orders come after that commit, through checkout and the payment provider, which run
    their own transactions (demo/shop.py); a buyer who has orders gets none added."""
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.uow() as uow:
            admin_email = next(p.email for p in PEOPLE if p.key == ADMIN_KEY)
            if await q.user_by_email(uow.session, admin_email) is None:
                seeded = await _seed_accounts(uow, settings)
            else:
                seeded = await _load_seeded(uow)
                if not (await is_seeded(uow.session, seeded.orgs) and await is_live_seeded(uow.session)):
                    await _grant_roles(uow, seeded)
            if not await is_seeded(uow.session, seeded.orgs):
                await seed_catalog(uow, settings.resolved_media_dir, seeded.users, seeded.orgs)
            if not await is_live_seeded(uow.session):
                await seed_live(uow, settings, seeded.users, seeded.orgs, seeded.users[ORGANISER_KEY])
            await seed_coupons(uow, seeded.users[ORGANISER_KEY])
        # After that commit: checkout and the provider each run their own transactions.
        gate = make_gate(settings.redis_url)
        try:
            shop = Shop(db.uow, gate, make_payment_provider(settings, db), settings)
            await seed_buyer_orders(shop, seeded.users[BUYER_KEY])
            await seed_fulfilment(shop, seeded.users[BUYER_KEY])
            await seed_reviews(shop)
            await seed_aftersales(shop, seeded.users[BUYER_KEY])  # the ended show's refund
            await seed_quota_show(shop)  # and its cadres' quota, flagged
            await seed_show_minutes(shop)  # its minutes, through the roll-up, for its report
            await seed_clips(db.uow, seeded.users[ORGANISER_KEY], settings)  # cut once the app serves
        finally:
            await gate.close()
    finally:
        await db.dispose()
    return demo_logins()


async def _load_seeded(uow: UnitOfWork) -> _Seeded:
    """The demo people and organisations of an earlier run."""
    users = {p.key: await q.user_by_email(uow.session, p.email) for p in PEOPLE}
    slugs = [*(o.slug for o in ORGANISATIONS), *AUTHORITY_SLUGS]
    orgs = {slug: await q.organisation_by_slug(uow.session, slug) for slug in slugs}
    missing = [key for key, found in [*users.items(), *orgs.items()] if found is None]
    if missing:
        raise RuntimeError(f"This database holds an incomplete demo (no {', '.join(missing)}); seed an empty one.")
    return _Seeded({k: u for k, u in users.items() if u}, {k: o for k, o in orgs.items() if o})


async def _grant_roles(uow: UnitOfWork, seeded: _Seeded) -> None:
    """Every demo membership; roles already held are left as they are."""
    for person in PEOPLE:
        for slug, role in person.memberships:
            await actions.add_member(uow, None, seeded.orgs[slug], seeded.users[person.key], role, reason="demo data")


async def _seed_accounts(uow: UnitOfWork, settings: Settings) -> _Seeded:
    seeded = _Seeded()
    for person in PEOPLE:
        data = SignUpIn(email=person.email, display_name=person.display_name, password=DEMO_PASSWORD)
        seeded.users[person.key] = await actions.sign_up(
            uow, data, is_platform_admin=person.is_platform_admin, is_demo=True
        )
    for org in ORGANISATIONS:
        data_org = OrganisationIn(
            slug=org.slug, name=org.name, kind=org.kind, region=org.region, description=org.description
        )
        seeded.orgs[org.slug] = await actions.create_organisation(
            uow, seeded.users[org.created_by], data_org, is_demo=True
        )
    admin, reviewer = seeded.users[ADMIN_KEY], seeded.users[REVIEWER_KEY]
    seeded.orgs.update(await create_authorities(uow, admin))
    await _grant_roles(uow, seeded)
    for org in ORGANISATIONS:
        if org.jurisdiction:
            await verify(uow, seeded.users[org.created_by], reviewer, seeded.orgs[org.slug], org.jurisdiction)
    await verify_authorities(uow, admin, reviewer, seeded.orgs)
    for person in PEOPLE:
        if person.verification is not None:
            await _verify(uow, settings, admin, seeded.users[person.key], person.verification)
    return seeded


async def _verify(uow: UnitOfWork, settings: Settings, admin: User, user: User, v: _Verification) -> None:
    request = await actions.apply_for_verification(
        uow,
        user,
        VerificationIn(
            legal_name=v.legal_name,
            id_number=id_number_with_check_digit(v.id_first17),
            host_kind=v.host_kind,
            position_title=v.position_title,
            jurisdiction=v.jurisdiction,
            evidence_note=EVIDENCE_NOTE,
        ),
        id_hash_key=settings.resolved_secret_key,
        is_demo=True,
    )
    if v.state == "approved":
        await actions.approve_verification(
            uow, admin, request.id, reason=APPROVAL_REASON, valid_days=settings.verification_valid_days
        )
    elif v.state == "expired":
        await actions.approve_verification(
            uow,
            admin,
            request.id,
            reason=APPROVAL_REASON,
            valid_days=EXPIRED_VALID_DAYS,
            now=EXPIRED_APPROVED_AT,
        )


# What `fieldcast demo` points at once it serves (label, path); the event's big screen and the
# ended show's report and clips join this list as those pages land.
SHOWCASE: tuple[tuple[str, str], ...] = (
    ("event (3 rooms live)", f"/events/{EVENT_SLUG}"),
    ("event big screen (sign in as the organiser)", f"/events/{EVENT_SLUG}/screen"),
    ("live rooms", "/live"),
)


def site_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"


def _with_rooms(login: DemoLogin) -> str:
    """A login's note, with the rooms it hosts; a host login without one says where to look."""
    keys = {p.email: p.key for p in PEOPLE}
    rooms = [r.title for r in ROOMS if r.host == keys.get(login.email)]
    if rooms:
        return " · ".join([login.note, *(f"hosts {title}" for title in rooms)])
    if login.role.startswith("host"):
        return f"{login.note} · hosts no demo room (the rooms' hosts are listed below)"
    return login.note


def room_host_lines() -> list[str]:
    """One line per demo room: its state, its host's login and its title."""
    people = {p.key: p for p in PEOPLE}
    state_width = max(len(room.state.value) for room in ROOMS)
    email_width = max(len(people[room.host].email) for room in ROOMS)
    return [
        f"{room.state.value.ljust(state_width)}  {people[room.host].email.ljust(email_width)}  {room.title}"
        for room in ROOMS
    ]


def print_logins(logins: Sequence[DemoLogin], settings: Settings) -> None:
    """Print the demo accounts as a table, with where to sign in."""
    url = site_url(settings)
    headers = ("ROLE", "EMAIL", "PASSWORD", "NOTE")
    rows = [(x.role, x.email, x.password, _with_rooms(x)) for x in logins]
    # The note goes last: it may hold Chinese text, whose terminal width would break padding.
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(3)]

    def line(cells: tuple[str, str, str, str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + "  " + cells[3]

    listed = {x.email for x in logins}
    others = [p for p in PEOPLE if p.email not in listed]
    print()
    print(f"Fieldcast demo — open {url} and sign in at {url}/signin")
    print("All people and organisations below are invented demo data, marked as demo.")
    print(f"Products: {url}/products · each organisation's storefront: {url}/s/<slug>, e.g. {url}/s/fengcheng-city")
    buyer = next(p for p in PEOPLE if p.key == BUYER_KEY)
    print(f"Buyer: sign in as {buyer.email} and open {url}/orders for paid demo orders ({url}/account/addresses).")
    print()
    print(line(headers))
    print(line(("-" * widths[0], "-" * widths[1], "-" * widths[2], "----")))
    for row in rows:
        print(line(row))
    print()
    print("Pages to open:")
    for label, page in SHOWCASE:
        print(f"  {label.ljust(max(len(x) for x, _ in SHOWCASE))}  {url}{page}")
    print()
    print(f"Live rooms and who hosts them (signed in, a host finds each console at {url}/me/shows):")
    for line_text in room_host_lines():
        print(f"  {line_text}")
    if others:
        print()
        print(f"More demo accounts (password {DEMO_PASSWORD}):")
        width = max(len(p.email) for p in others)
        for person in others:
            print(f"  {person.email.ljust(width)}  {person.note}")
    print()


# -- platform administrators ---------------------------------------------------------------------
