"""The demo seed and `create-admin`: idempotent, marked as demo, made through the real actions,
usable through the API, and free of the names of the real people in the news stories; the stories'
products on their storefronts, with every inspection badge and a draft that shows claim warnings."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image

from fieldcast.accounts.models import HostKind, HostVerification, Membership, Organisation, Role, User
from fieldcast.accounts.security import id_number_with_check_digit
from fieldcast.aftersales.models import RefundReason, RefundRequest, RefundRequestState
from fieldcast.catalog.models import Inspection, Product, ProductImage, Sku, Supplier
from fieldcast.catalog.queries import today_local
from fieldcast.cli import ensure_admin
from fieldcast.commerce.models import Address, Order, OrderState, RefundStatus, Shipment
from fieldcast.config import Settings
from fieldcast.db.audit import AuditEntry
from fieldcast.db.audit_chain import verify_chain
from fieldcast.db.engine import Database
from fieldcast.db.outbox import OutboxMessage
from fieldcast.demo import aftersales as demo_aftersales
from fieldcast.demo import authorities as demo_authorities
from fieldcast.demo import catalog as demo_catalog
from fieldcast.demo import fulfilment as demo_fulfilment
from fieldcast.demo import integrity as demo_integrity
from fieldcast.demo import live as demo_live
from fieldcast.demo import pictures as demo_pictures
from fieldcast.demo import reviews as demo_reviews
from fieldcast.demo import seed as demo
from fieldcast.demo import shop as demo_shop
from fieldcast.integrity.models import IntegrityAlert
from fieldcast.integrity.rules import ROUND_QUOTA
from fieldcast.live.models import LiveSession, SessionState, ShelfItem
from fieldcast.payments.models import NotificationOutcome, Payment, PaymentNotification, PaymentState
from fieldcast.payments.sandbox import TOPIC_NOTIFY
from tests.demo.conftest import ClientFactory, Seeded, all_rows, signed_in
from tests.factories import PASSWORD, sign_up

CATALOG_TABLES = (Supplier, Product, Sku, ProductImage, Inspection)
SHOP_TABLES = (Address, Order, Payment, PaymentNotification, ShelfItem, Shipment)
# One word from each product the issue names, as it appears in a title.
STORY_PRODUCTS = ("蓝莓", "牦牛", "富硒", "锦鲤", "脐橙", "小龙虾", "党参", "腐竹", "红枣", "苹果", "传祺", "SkyTrek")
PUBLISHED = [p for p in demo_catalog.PRODUCTS if p.publish]

ROLES = [
    "platform admin",
    "owner",
    "organiser",
    "host (official)",
    "host (village first secretary)",
    "host (farmer)",
    "supplier",
    "inspector",
    "supervisor",
    "buyer",
]

# People named in the news stories (/work/shared/seeds), in pinyin, simplified and traditional
# characters where the stories give them; the demo must never present itself as any of them.
REAL_NAMES_LATIN = {
    "Lu Hongping",
    "Gao Shilong",
    "A Qiong",
    "Aqiong",
    "Arjun",
    "Jin Hongfeng",
    "Li Xiaochu",
    "Yang Shan",
    "Wang Hongtao",
    "Li Jun",
    "Xu Jilian",
    "Zhao Chengjie",
    "Song Xiaoying",
    "Song Junhua",
    "Wu Zuyun",
    "Ma Hongsheng",
    "Li Lin",
    "Liu Hong",
    "Li Qiang",
    "Yao Yingjiu",
    "Xin Feng",
    "Yan Fuping",
    "Wang Pengju",
    "Guo Jinping",
    "Ding Jianhua",
    "Liu Meiying",
    "Qing Zhaokun",
    "Lu Fangzhou",
    "He Jianwen",
    "Chen Ping",
    "Zhou Yunqing",
    "Zhang Zhian",
    "Wei Yanan",
    "Yan Yong",
    "Li Jiaqi",
    "Li Xinsuo",
    "Chen Si",
    "Zhang Chong",
    "Xu Leipeng",
    "Jiang Feng",
    "Pan Junqiang",
    "Li Jiading",
}
REAL_NAMES_HANZI = {
    "李曉楚",
    "李晓楚",
    "楊珊",
    "杨珊",
    "王洪濤",
    "王洪涛",
    "李君",
    "張志安",
    "张志安",
    "魏延安",
    "閆永",
    "闫永",
    "聶新鑫",
    "聂新鑫",
    "陳昊",
    "陈昊",
    "李佳琦",
    "羅永浩",
    "罗永浩",
    "董明珠",
    "劉濤",
    "刘涛",
    # Likely spellings of names the stories give only in pinyin.
    "阿琼",
    "阿瓊",
    "高世龙",
    "高士龙",
    "卢洪平",
    "逯洪平",
    "金宏峰",
    "金洪峰",
    "许继莲",
    "徐继莲",
    "赵成杰",
    "宋晓英",
    "宋军华",
    "吴祖云",
    "马洪胜",
    "马红生",
    "李林",
    "刘红",
    "刘洪",
    "李强",
    "辛峰",
}


def _squash(name: str) -> str:
    return re.sub(r"[\s'·-]", "", name).lower()


async def _count(app: FastAPI, model: type[Any]) -> int:
    async with app.state.ctx.uow() as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _person(key: str) -> demo._Person:
    return next(p for p in demo.PEOPLE if p.key == key)


def _media_files(settings: Settings) -> list[str]:
    return sorted(str(p) for p in settings.resolved_media_dir.rglob("*") if p.is_file())


async def _login(make_client: ClientFactory, key: str) -> httpx.AsyncClient:
    return await signed_in(make_client, _person(key).email, demo.DEMO_PASSWORD)


async def _public_products(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/products", params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    items: list[dict[str, Any]] = body["items"]
    return items


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_seeding_twice_returns_the_same_logins_and_duplicates_nothing(
    backend: str, app: FastAPI, settings: Settings
) -> None:
    tables = (User, Organisation, Membership, HostVerification, *CATALOG_TABLES, *SHOP_TABLES)
    first = await demo.seed(settings)
    counts = [await _count(app, m) for m in tables]
    files = _media_files(settings)
    audited = {e.id for e in await all_rows(app, AuditEntry)}

    second = await demo.seed(settings)

    assert second == first
    assert [await _count(app, m) for m in tables] == counts
    # The second seed audits nothing; the app's own background work may meanwhile: the relay
    # finishing what the first seed started (the demo refund settled by the provider, a sandbox
    # notification applied late).
    late = [e.action for e in await all_rows(app, AuditEntry) if e.id not in audited]
    assert set(late) <= {"refund.refunded", "order.refund_settled", "payment.paid", "order.paid"}, late
    assert _media_files(settings) == files
    # and the demo reviewers, and the cadres of the quota show
    assert counts[0] == len(demo.PEOPLE) + len(demo_reviews.REVIEWS) + len(demo_integrity.CADRES)
    assert counts[1] == len(demo.ORGANISATIONS) + len(demo_authorities.AUTHORITIES)
    assert counts[tables.index(Product)] == len(demo_catalog.PRODUCTS)
    # A picture and its thumbnail per product, a logo and its thumbnail per brand, a cover and its
    # thumbnail per live room.
    assert len(files) == 2 * (len(demo_catalog.PRODUCTS) + len(demo_catalog.BRANDS) + len(demo_live.ROOMS))


async def test_a_database_seeded_before_the_demo_catalog_gets_it_on_the_next_run(
    app: FastAPI, settings: Settings
) -> None:
    db = Database(settings.sqlalchemy_url)
    async with db.uow() as uow:
        await demo._seed_accounts(uow, settings)  # all that earlier versions of the demo seeded
    await db.dispose()
    accounts = [await _count(app, m) for m in (User, Organisation, Membership)]
    assert await _count(app, Product) == 0

    await demo.seed(settings)

    # the demo reviews' buyers and the quota show's cadres are its only new accounts
    buyers = len(demo_reviews.REVIEWS) + len(demo_integrity.CADRES)
    assert [await _count(app, m) for m in (User, Organisation, Membership)] == [accounts[0] + buyers, *accounts[1:]]
    assert await _count(app, Product) == len(demo_catalog.PRODUCTS)
    assert await _count(app, Supplier) == len(demo_catalog.SUPPLIERS)


async def test_an_incomplete_demo_is_refused_and_left_unchanged(app: FastAPI, settings: Settings) -> None:
    db = Database(settings.sqlalchemy_url)
    async with db.uow() as uow:
        seeded = await demo._seed_accounts(uow, settings)
        await uow.session.delete(seeded.orgs["wanrong-county"])
    await db.dispose()

    with pytest.raises(RuntimeError, match="wanrong-county"):
        await demo.seed(settings)

    assert await _count(app, Product) == 0
    assert await _count(app, Supplier) == 0
    assert _media_files(settings) == []


async def test_logins_cover_every_role_once_with_a_valid_shared_password(seeded: Seeded) -> None:
    roles = [x.role for x in seeded.logins]
    assert set(ROLES) <= set(roles)
    assert len(roles) == len(set(roles))
    assert all(x.password == demo.DEMO_PASSWORD for x in seeded.logins)
    assert len(demo.DEMO_PASSWORD) >= 10
    assert all(x.email.endswith("@" + demo.DEMO_EMAIL_DOMAIN) for x in seeded.logins)


async def test_everything_seeded_is_marked_demo(seeded: Seeded) -> None:
    users = await all_rows(seeded.app, User)
    orgs = await all_rows(seeded.app, Organisation)
    verifications = await all_rows(seeded.app, HostVerification)

    # and the demo reviewers and the quota show's cadres
    assert len(users) == len(demo.PEOPLE) + len(demo_reviews.REVIEWS) + len(demo_integrity.CADRES)
    assert len(orgs) == len(demo.ORGANISATIONS) + len(demo_authorities.AUTHORITIES)
    assert len(verifications) == len([p for p in demo.PEOPLE if p.verification])
    assert all(u.is_demo for u in users)
    assert all(o.is_demo for o in orgs)
    assert all(v.is_demo for v in verifications)
    suppliers = await all_rows(seeded.app, Supplier)
    products = await all_rows(seeded.app, Product)
    inspections = await all_rows(seeded.app, Inspection)
    assert len(suppliers) == len(demo_catalog.SUPPLIERS)
    assert len(products) == len(demo_catalog.PRODUCTS)
    assert len(inspections) == len([p for p in demo_catalog.PRODUCTS if p.inspection])
    assert all(x.is_demo for x in [*suppliers, *products, *inspections])
    assert all(x.certificate_no.startswith("DEMO-") for x in inspections)


async def test_seed_creates_the_story_organisations_with_their_kinds(seeded: Seeded) -> None:
    orgs = {o.slug: o for o in await all_rows(seeded.app, Organisation)}

    for slug in (
        "yanghe-town",
        "dabeishan-village",
        "jilin-first-secretaries",
        "henan-county",
        "fengcheng-city",
        "zhenping-county",
        "zigui-county",
        "qianjiang-city",
        "doumen-district",
        "doumen-aviation",
        "qinyuan-county",
        "panyu-district",
        "linxian-county",
        "wanrong-county",
    ):
        assert slug in orgs
        assert orgs[slug].description and orgs[slug].region
    assert orgs["yanghe-town"].name == "胶州市洋河镇人民政府"
    assert orgs["dabeishan-village"].kind == "cooperative"
    assert orgs["jilin-first-secretaries"].kind == "association"
    assert orgs["doumen-aviation"].kind == "enterprise"
    assert orgs["fengcheng-city"].kind == "government"


async def test_seed_goes_through_the_actions_so_the_audit_log_holds(seeded: Seeded) -> None:
    actions = [e.action for e in await all_rows(seeded.app, AuditEntry)]

    assert actions.count("user.sign_up") == len(demo.PEOPLE) + len(demo_reviews.REVIEWS) + len(demo_integrity.CADRES)
    assert actions.count("organisation.create") == len(demo.ORGANISATIONS) + len(demo_authorities.AUTHORITIES)
    assert actions.count("user.make_admin") == len([p for p in demo.PEOPLE if p.is_platform_admin])
    verified = len([o for o in demo.ORGANISATIONS if o.jurisdiction]) + len(demo_authorities.AUTHORITIES)
    assert actions.count("organisation.verification_apply") == actions.count("organisation.verify") == verified
    states = [p.verification.state for p in demo.PEOPLE if p.verification]
    assert actions.count("verification.apply") == len(states)
    assert actions.count("verification.approve") == len([s for s in states if s != "pending"])
    assert actions.count("membership.add") == sum(len(p.memberships) for p in demo.PEOPLE)
    products = demo_catalog.PRODUCTS
    assert actions.count("supplier.create") == len(demo_catalog.SUPPLIERS)
    assert actions.count("product.create") == len(products)
    assert actions.count("product.add_image") == len(products)
    assert actions.count("inspection.record") == len([p for p in products if p.inspection])
    assert actions.count("product.publish") == len(PUBLISHED)
    assert actions.count("product.publish_with_override") == 0  # the published texts are clean
    assert actions.count("organisation.brand") == len(demo_catalog.BRANDS)
    assert actions.count("session.cover") == len(demo_live.ROOMS)
    # and every entry the seed's actions wrote is in one intact hash chain (db/audit_chain.py)
    async with seeded.app.state.ctx.db.engine.connect() as conn:
        report = await conn.run_sync(lambda c: verify_chain(c))
    assert report.ok, report.problems[:3]
    assert report.entries == len(actions)


async def test_every_demo_account_signs_in_and_hosts_show_their_badges(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    printed = {x.email: x.password for x in seeded.logins}

    for person in demo.PEOPLE:
        client = await signed_in(seeded_clients, person.email, printed.get(person.email, demo.DEMO_PASSWORD))
        me = (await client.get("/api/v1/me")).json()
        assert me["display_name"] == person.display_name
        assert me["is_platform_admin"] is person.is_platform_admin
        v = person.verification
        verified = v is not None and v.state == "approved"
        assert me["badges"]["verified"] is verified, person.email
        assert me["badges"]["official"] is (verified and v is not None and v.host_kind == HostKind.OFFICIAL)


async def test_printed_host_logins_are_verified_and_officials_are_official(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    logins = {x.role: x for x in seeded.logins}

    for role, official in (
        ("host (official)", True),
        ("host (village first secretary)", False),
        ("host (farmer)", False),
    ):
        client = await signed_in(seeded_clients, logins[role].email, logins[role].password)
        badges = (await client.get("/api/v1/me")).json()["badges"]
        assert badges["verified"] is True
        assert badges["official"] is official
    for role in ("host (pending verification)", "host (verification expired)"):
        client = await signed_in(seeded_clients, logins[role].email, logins[role].password)
        assert (await client.get("/api/v1/me")).json()["badges"]["verified"] is False


async def test_public_host_list_shows_the_verified_hosts_without_legal_id_data(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    client = seeded_clients()

    r = await client.get("/api/v1/hosts", params={"limit": 200})

    assert r.status_code == 200
    body = r.json()
    approved = [p for p in demo.PEOPLE if p.verification and p.verification.state == "approved"]
    assert {h["display_name"] for h in body["items"]} == {p.display_name for p in approved}
    assert all(h["is_demo"] and h["badges"]["verified"] for h in body["items"])
    for forbidden in ("legal_name", "id_number", "id_number_last4", "id_number_hash", "email", "evidence_note"):
        assert f'"{forbidden}"' not in r.text
    assert "向德福" not in r.text  # the farmer's legal name, unlike his display name, stays private
    for person in approved:
        assert person.verification is not None
        assert id_number_with_check_digit(person.verification.id_first17) not in r.text

    officials = (await client.get("/api/v1/hosts", params={"official": "true", "limit": 200})).json()["items"]
    assert {h["display_name"] for h in officials} == {
        p.display_name for p in approved if p.verification and p.verification.host_kind == HostKind.OFFICIAL
    }


async def test_admin_queue_holds_the_pending_and_the_expired_request(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    login = next(x for x in seeded.logins if x.role == "platform admin")
    admin = await signed_in(seeded_clients, login.email, login.password)

    pending = (await admin.get("/api/v1/verifications", params={"status": "pending"})).json()
    expired = (await admin.get("/api/v1/verifications", params={"status": "expired"})).json()

    assert [v["display_name"] for v in pending["items"]] == [_person("host-pending").display_name]
    assert [v["display_name"] for v in expired["items"]] == [_person("host-expired").display_name]
    assert expired["items"][0]["status"] == "expired"


async def test_seeded_roles_are_held_in_the_right_organisations(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    client = seeded_clients()

    members = (await client.get("/api/v1/organisations/fengcheng-city/members")).json()
    coop = (await client.get("/api/v1/organisations/dabeishan-village/members")).json()

    roles = {m["display_name"]: set(m["roles"]) for m in members}
    for key, role in (
        ("owner", Role.OWNER),
        ("organiser", Role.ORGANISER),
        ("host-fengcheng", Role.HOST),
        ("supervisor", Role.SUPERVISOR),
    ):
        assert role.value in roles[_person(key).display_name]
    assert "supplier" in {r for m in coop for r in m["roles"]}
    for slug in demo_catalog.STOREFRONT_SLUGS:  # the demo organiser acts on every storefront
        members = (await client.get(f"/api/v1/organisations/{slug}/members")).json()
        roles = {m["display_name"]: set(m["roles"]) for m in members}
        assert "organiser" in roles[_person("organiser").display_name], slug
        # The inspector belongs to no seller: a seller never inspects its own goods.
        assert _person("inspector").display_name not in roles, slug
    for slug in demo_authorities.AUTHORITY_SLUGS:  # and inspects for every county's office
        members = (await client.get(f"/api/v1/organisations/{slug}/members")).json()
        roles = {m["display_name"]: set(m["roles"]) for m in members}
        assert roles[_person("inspector").display_name] == {"inspector"}, slug


async def test_no_seeded_person_carries_the_name_of_a_real_person(seeded: Seeded) -> None:
    names = {u.display_name for u in await all_rows(seeded.app, User)}
    names |= {v.legal_name for v in await all_rows(seeded.app, HostVerification)}
    names |= {x.contact_name for x in await all_rows(seeded.app, Supplier)}

    real_latin = {_squash(n) for n in REAL_NAMES_LATIN}
    for name in names:
        assert name not in REAL_NAMES_HANZI
        assert _squash(name) not in real_latin
        assert not any(real in name for real in REAL_NAMES_HANZI if len(real) >= 3), name


async def test_the_stories_products_are_on_sale_to_anyone(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    items = await _public_products(seeded_clients())

    titles = [x["title"] for x in items]
    assert len(items) == len(PUBLISHED) >= 11
    for word in STORY_PRODUCTS:
        assert any(word in title for title in titles), word
    assert sorted(titles) == sorted(p.title for p in PUBLISHED)
    assert all(x["is_demo"] and x["min_price_fen"] and x["thumb_url"] for x in items)
    by_title = {x["title"]: x for x in items}
    assert next(x for x in items if "SkyTrek" in x["title"])["category"] == "aircraft"
    assert next(x for x in items if "传祺" in x["title"])["min_price_fen"] == 10_000_000  # 100,000 yuan
    assert by_title[PUBLISHED[0].title] == items[0]  # newest first, in the stories' order


async def test_each_storefront_shows_its_own_products_from_its_own_region(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    client = seeded_clients()
    regions = {o.slug: o.region for o in demo.ORGANISATIONS}

    for slug in demo_catalog.STOREFRONT_SLUGS:
        expected = {p.title for p in PUBLISHED if p.org == slug}
        items = await _public_products(client, organisation=slug)
        page = await client.get(f"/s/{slug}")

        assert {x["title"] for x in items} == expected, slug
        assert all(x["organisation_slug"] == slug for x in items)
        assert all(x["origin_name"].startswith(regions[slug]) for x in items), slug
        assert page.status_code == 200
        for title in expected:
            assert title in page.text, (slug, title)


async def test_suppliers_ship_from_a_named_region_with_a_contact(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    organiser = await _login(seeded_clients, "organiser")

    for slug in demo_catalog.STOREFRONT_SLUGS:
        suppliers = (await organiser.get(f"/api/v1/organisations/{slug}/suppliers")).json()

        assert suppliers, slug
        for supplier in suppliers:
            assert supplier["kind"] in {"farmer", "cooperative", "factory"}
            assert supplier["ship_from_name"] and supplier["contact_name"] and supplier["contact_phone"]
            assert supplier["is_demo"] is True


async def test_inspection_badges_show_passed_expired_and_none(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    items = await _public_products(seeded_clients())

    by_status: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_status.setdefault(item["inspection"]["status"], []).append(item)
    assert {x["title"] for x in by_status["expired"]} == {p.title for p in PUBLISHED if "红枣" in p.title}
    assert {x["title"] for x in by_status["none"]} == {p.title for p in PUBLISHED if p.inspection is None}
    assert len(by_status["expired"]) == len(by_status["none"]) == 1
    assert "failed" not in by_status
    assert len(by_status["passed"]) == len(items) - 2
    today = today_local().isoformat()
    for item in by_status["passed"]:
        badge = item["inspection"]
        assert badge["certificate_no"].startswith("DEMO-") and badge["lab_name"]
        # Each county's own, verified market-supervision office inspected its county's goods.
        assert badge["authority_slug"] == demo_authorities.authority_for(item["origin_region"])
        assert badge["authority_name"].endswith("市场监督管理局")
        assert badge["valid_until"] >= today
    assert by_status["expired"][0]["inspection"]["valid_until"] < today


async def test_the_draft_with_health_claims_is_hidden_but_warns_its_organisers(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    draft = next(p for p in demo_catalog.PRODUCTS if not p.publish)
    organiser = await _login(seeded_clients, "organiser")
    anonymous = seeded_clients()

    own = await _public_products(organiser, organisation=draft.org, include_unpublished="true")
    found = next(x for x in own if x["title"] == draft.title)
    detail = (await organiser.get(f"/api/v1/products/{found['id']}")).json()

    assert detail["status"] == "draft"
    assert {"抗氧化", "提高免疫力"} <= {c["term"] for c in detail["claims"]}
    assert detail["inspection"]["status"] == "none"
    assert (await anonymous.get(f"/api/v1/products/{found['id']}")).status_code == 404
    assert draft.title not in {x["title"] for x in await _public_products(anonymous)}
    assert await _public_products(anonymous, q="免疫力") == []


async def test_declared_unit_costs_are_seen_by_organisers_only(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    anonymous = seeded_clients()
    viewer = await _login(seeded_clients, "viewer")
    organiser = await _login(seeded_clients, "organiser")

    for item in await _public_products(anonymous):
        url = f"/api/v1/products/{item['id']}"
        for client in (anonymous, viewer):
            r = await client.get(url)
            assert r.status_code == 200
            assert all(sku["unit_cost_fen"] is None for sku in r.json()["skus"]), item["title"]
        skus = (await organiser.get(url)).json()["skus"]
        assert skus
        assert all(0 < sku["unit_cost_fen"] < sku["price_fen"] for sku in skus), item["title"]
        assert all(sku["weight_g"] > 0 and sku["stock"] > 0 for sku in skus)


async def test_product_pictures_and_brand_logos_are_served(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    client = seeded_clients()

    for item in await _public_products(client):
        picture = await client.get(item["thumb_url"])
        assert picture.status_code == 200, item["title"]
        assert picture.headers["content-type"] == "image/webp"
    for brand in demo_catalog.BRANDS:
        page = await client.get(f"/s/{brand.org}")
        logo = re.search(r'<img src="([^"]+)"[^>]*data-testid="brand-logo"', page.text)
        assert brand.name in page.text
        assert logo is not None, brand.org
        assert (await client.get(logo.group(1))).headers["content-type"] == "image/webp"


def test_demo_pictures_are_800_by_600_pngs_drawn_without_fonts() -> None:
    for kind in demo_pictures.PAINTERS:
        data = demo_pictures.draw_picture(kind, seed=1)
        with Image.open(io.BytesIO(data)) as image:
            assert (image.format, image.size) == ("PNG", (800, 600))
        assert demo_pictures.draw_picture(kind, seed=1) == data  # reproducible


def test_demo_room_covers_are_16_by_9_pngs_of_their_product_the_same_every_time() -> None:
    covers = set()
    for number, room in enumerate(demo_live.ROOMS, start=1):
        data = demo_pictures.draw_cover(room.cover, seed=number)
        with Image.open(io.BytesIO(data)) as image:
            assert (image.format, image.size) == ("PNG", demo_pictures.COVER_SIZE)
        assert demo_pictures.draw_cover(room.cover, seed=number) == data
        covers.add(data)
    assert len(covers) == len(demo_live.ROOMS)


async def test_every_demo_product_and_room_has_a_picture(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    client = seeded_clients()
    async with seeded.app.state.ctx.uow(write=False) as uow:
        products = (await uow.session.scalars(sa.select(Product))).all()
        with_image = set((await uow.session.scalars(sa.select(ProductImage.product_id))).all())
        rooms = (await uow.session.scalars(sa.select(LiveSession))).all()
    assert len(products) == len(demo_catalog.PRODUCTS) and {p.id for p in products} <= with_image
    assert len(rooms) == len(demo_live.ROOMS) and all(room.cover_path for room in rooms)
    home = (await client.get("/")).text
    pictures = re.findall(r'<img src="(/media/sessions/[^"]+)"[^>]*data-picture="cover"', home)
    live_or_upcoming = [r for r in demo_live.ROOMS if r.state != SessionState.ENDED]
    assert len(pictures) == len(live_or_upcoming) == 4  # the three live rooms and the upcoming one
    for url in pictures:
        served = await client.get(url)
        assert served.status_code == 200 and served.headers["content-type"].startswith("image/")


async def test_print_logins_shows_every_role_and_the_site_url(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": 8123})

    demo.print_logins(demo.demo_logins(), settings)

    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123" in out
    assert "http://127.0.0.1:8123/products" in out  # where the demo catalog is
    for login in demo.demo_logins():
        assert login.role in out
        assert login.email in out
    assert demo.DEMO_PASSWORD in out
    buyer_line = next(line for line in out.splitlines() if line.startswith("Buyer:"))
    assert _person(demo.BUYER_KEY).email in buyer_line and "http://127.0.0.1:8123/orders" in buyer_line
    for person in demo.PEOPLE:  # hosts beyond the one-per-role table are listed too
        assert person.email in out
    assert "http://127.0.0.1:8123/events/fengcheng-618" in out  # the live event to open first


async def test_print_logins_names_the_host_of_each_demo_room(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.print_logins(demo.demo_logins(), settings)

    lines = capsys.readouterr().out.splitlines()
    for room in demo_live.ROOMS:
        host = _person(room.host).email
        assert any(host in line and room.title in line and room.state.value in line for line in lines), room.title
    # A host login in the table says which room it runs, or that it runs none.
    for login in demo.demo_logins():
        if login.role.startswith("host"):
            row = next(line for line in lines if login.email in line and login.role in line)
            hosted = [r.title for r in demo_live.ROOMS if _person(r.host).email == login.email]
            assert all(title in row for title in hosted) and (hosted or "hosts no demo room" in row), row


async def test_ensure_admin_creates_an_administrator_who_can_sign_in(
    app: FastAPI, settings: Settings, make_client: ClientFactory
) -> None:
    created = await ensure_admin(settings, email="Boss@Example.com", display_name="平台运维", password=PASSWORD)

    assert created is True
    client = await signed_in(make_client, "boss@example.com", PASSWORD)
    assert (await client.get("/api/v1/me")).json()["is_platform_admin"] is True
    assert (await client.get("/api/v1/verifications")).status_code == 200


async def test_ensure_admin_promotes_an_existing_account_and_records_it(
    app: FastAPI, settings: Settings, client: httpx.AsyncClient
) -> None:
    user = await sign_up(client, "someone@example.com", "某用户")
    assert (await client.get("/api/v1/verifications")).status_code == 403

    first = await ensure_admin(settings, email="someone@example.com", display_name="x", password=PASSWORD)
    again = await ensure_admin(settings, email="someone@example.com", display_name="x", password=PASSWORD)

    assert first is False
    assert again is False
    me = (await client.get("/api/v1/me")).json()
    assert me["is_platform_admin"] is True
    assert me["display_name"] == "某用户"  # only the flag changes
    promotions = [
        e for e in await all_rows(app, AuditEntry) if e.action == "user.make_admin" and e.target_id == str(user["id"])
    ]
    assert len(promotions) == 1
    assert (await client.get("/api/v1/verifications")).status_code == 200


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [("not-an-email", PASSWORD, "email"), ("short@example.com", "short", "password")],
)
async def test_ensure_admin_rejects_bad_input_with_a_clear_message(
    app: FastAPI, settings: Settings, email: str, password: str, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        await ensure_admin(settings, email=email, display_name="Admin", password=password)
    assert await _count(app, User) == 0


async def test_demo_event_has_three_live_rooms_an_upcoming_one_and_a_replay(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    client = seeded_clients()
    event = (await client.get("/api/v1/events/fengcheng-618")).json()
    states = [x["state"] for x in event["sessions"]]
    assert states.count("live") == 3 and "scheduled" in states and "ended" in states
    assert all(x["event_id"] == event["id"] for x in event["sessions"])
    live = [x for x in event["sessions"] if x["state"] == "live"]
    assert all(x["hls_url"].startswith("/hls/live/") for x in live)
    # The two officials' rooms co-stream, as in the stories.
    by_title = {x["title"]: x["id"] for x in live}
    first = (await client.get(f"/api/v1/sessions/{by_title[demo_live.ROOMS[0].title]}")).json()
    assert first["co_stream"]["session_id"] == by_title[demo_live.ROOMS[1].title] and first["partner_shelf"]
    third = (await client.get(f"/api/v1/sessions/{by_title[demo_live.ROOMS[2].title]}")).json()
    assert third["co_stream"] is None and third["pinned_sku_id"] in {x["sku_id"] for x in third["shelf"]}

    upcoming = next(x for x in event["sessions"] if x["state"] == "scheduled")
    assert upcoming["hls_url"] is None
    ended = next(x for x in event["sessions"] if x["state"] == "ended")
    assert ended["replay_state"] == "ready" and ended["hls_url"].startswith("/hls/replay/")
    playlist = await client.get(ended["hls_url"])
    assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
    segment = next(line for line in playlist.text.splitlines() if line.endswith(".ts"))
    seg = await client.get(ended["hls_url"].rsplit("/", 1)[0] + "/" + segment)
    assert seg.status_code == 200 and seg.content[:1] == b"\x47"  # MPEG-TS sync byte
    detail = (await client.get(f"/api/v1/sessions/{ended['id']}")).json()
    assert detail["marks"] and all(0 < m["offset_s"] < demo_live.REPLAY_SECONDS for m in detail["marks"])
    assert detail["shelf"]  # the replay's shelf stays buyable


# == the buyer's paid orders and the flash sale ===================================================


async def test_the_printed_buyer_has_paid_demo_orders_at_orders(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    login = next(x for x in seeded.logins if x.role == "buyer")
    buyer = await signed_in(seeded_clients, login.email, login.password)

    orders = (await buyer.get("/api/v1/me/orders")).json()["items"]
    # Beside these, the order refunded in the ended show (demo/aftersales.py, tested below).
    orders = [o for o in orders if o["lines"][0]["title"] != demo_aftersales.PRODUCT]
    page = await buyer.get("/orders")

    # One order per supplier: the first checkout has two suppliers, the others one each.
    assert len(orders) == 4
    assert all(o["state"] == "paid" and o["paid_at"] for o in orders)
    assert {line["title"] for o in orders for line in o["lines"]} == {
        line.product for lines in demo_shop.BUYER_CHECKOUTS for line in lines
    }
    in_room = [o for o in orders if o["session_id"] is not None]
    assert len(in_room) == 1 and in_room[0]["lines"][0]["unit_price_fen"] < 12_990  # the live price
    ship_to = orders[0]["ship_to"]
    assert ship_to["recipient"] == _person(demo.BUYER_KEY).display_name
    assert ship_to["phone"].startswith(demo_shop.DEMO_PHONE_PREFIX)
    assert page.status_code == 200
    for o in orders:
        assert o["lines"][0]["title"] in page.text


async def test_the_buyers_orders_are_demo_and_were_paid_by_the_providers_notification(seeded: Seeded) -> None:
    buyer = next(u for u in await all_rows(seeded.app, User) if u.email == _person(demo.BUYER_KEY).email)
    orders = [o for o in await all_rows(seeded.app, Order) if o.buyer_id == buyer.id]
    payments = [p for p in await all_rows(seeded.app, Payment) if p.buyer_id == buyer.id]
    [address] = [a for a in await all_rows(seeded.app, Address) if a.user_id == buyer.id]
    # (the demo reviewers' orders were paid the same way; they are not this buyer's)
    notifications = [
        n for n in await all_rows(seeded.app, PaymentNotification) if n.payment_id in {p.id for p in payments}
    ]
    trade_nos = {p.out_trade_no for p in payments}
    sent = [m for m in await all_rows(seeded.app, OutboxMessage) if m.topic == TOPIC_NOTIFY and m.key in trade_nos]

    # paid in the live rooms; in the ended show, shipped or delivered (demo/fulfilment.py) or
    # refunded before shipping (demo/aftersales.py)
    assert orders and all(o.is_demo for o in orders)
    assert all(o.state in (OrderState.PAID, OrderState.SHIPPED, OrderState.DELIVERED) for o in orders)
    ended = len(demo_fulfilment.PARCELS) + 1
    assert len(payments) == len(demo_shop.BUYER_CHECKOUTS) + ended
    assert all(p.is_demo and p.state == PaymentState.PAID and p.provider_txn_id and p.pay_url for p in payments)
    assert address.is_demo and address.is_default
    # Each payment was paid by the sandbox's own signed notification, applied once and delivered.
    assert sorted(n.payment_id or 0 for n in notifications) == sorted(p.id for p in payments)
    assert all(n.outcome == NotificationOutcome.APPLIED for n in notifications)
    assert {m.payload["id"] for m in sent} == {n.notification_id for n in notifications}
    assert all(m.published_at is not None for m in sent)


async def test_the_ended_demo_show_has_a_refund_through_the_provider(seeded: Seeded) -> None:
    await seeded.app.state.ctx.relay.drain()  # the relay asks the provider, as a running server does
    [request] = [r for r in await all_rows(seeded.app, RefundRequest) if r.reason == RefundReason.TOO_SLOW]
    [show] = [s for s in await all_rows(seeded.app, LiveSession) if s.title == demo_aftersales.ENDED_SHOW]
    order = next(o for o in await all_rows(seeded.app, Order) if o.id == request.order_id)
    assert request.is_demo and order.is_demo and order.session_id == show.id and show.ended_at is not None
    assert show.state == SessionState.ENDED
    assert request.state == RefundRequestState.REFUNDED
    assert request.seconds_after_show_end is not None and request.seconds_after_show_end > 3600
    assert (order.refund_status, order.refunded_fen) == (RefundStatus.REFUNDED, order.total_fen)
    assert sum(request.returned_lines.values()) == order.units  # never shipped: back on sale


async def test_the_ended_demo_show_has_a_forced_quota_flagged_in_its_report_and_its_ledger(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    [show] = [s for s in await all_rows(seeded.app, LiveSession) if s.title == demo_integrity.QUOTA_SHOW]
    cadres = {u.id for u in await all_rows(seeded.app, User) if u.email.startswith("zhenping-cadre-")}
    bought = [o for o in await all_rows(seeded.app, Order) if o.buyer_id in cadres]
    # Six cadres, one paid order each in the ended show, each in the 50-yuan quota band.
    assert len(cadres) == len(demo_integrity.CADRES) == len(bought)
    assert all(o.session_id == show.id and o.paid_at is not None and o.is_demo for o in bought)
    assert all(5000 <= o.total_fen < 5500 for o in bought)
    assert show.state == SessionState.ENDED

    [alert] = [a for a in await all_rows(seeded.app, IntegrityAlert) if a.rule == ROUND_QUOTA]
    assert (alert.session_id, alert.subject_id) == (show.id, show.id)
    assert alert.evidence["quota_fen"] == 5000
    assert cadres <= {b["buyer_id"] for b in alert.evidence["buyers"]}

    client = seeded_clients()
    gmv = (await client.get(f"/api/v1/sessions/{show.id}/gmv")).json()
    assert gmv["flagged_fen"] > 0 and gmv["verified_fen"] == gmv["paid_fen"] - gmv["refunded_fen"] - gmv["flagged_fen"]
    ledger = await client.get(f"/live/{show.id}/ledger")
    assert ledger.status_code == 200
    assert f"¥{gmv['flagged_fen'] // 100:,}.{gmv['flagged_fen'] % 100:02d}" in ledger.text
    # The printed organiser (of every storefront) finds it in the show's integrity report.
    organiser = _person(demo.ORGANISER_KEY)
    signed = await signed_in(seeded_clients, organiser.email, demo.DEMO_PASSWORD)
    alerts = (await signed.get(f"/api/v1/sessions/{show.id}/alerts")).json()
    assert ROUND_QUOTA in {a["rule"] for a in alerts}
    report = await signed.get(f"/integrity/sessions/{show.id}")
    assert report.status_code == 200 and 'data-rule="round_quota"' in report.text and "摊派" in report.text


async def test_a_live_demo_room_has_a_flash_sale_below_the_list_price(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    client = seeded_clients()
    [room] = [r for r in demo_live.ROOMS if r.flash]
    assert room.flash is not None

    event = (await client.get("/api/v1/events/fengcheng-618")).json()
    session = next(x for x in event["sessions"] if x["title"] == room.title)
    shelf = (await client.get(f"/api/v1/sessions/{session['id']}")).json()["shelf"]
    [flash] = [x for x in shelf if x["flash_starts_at"]]

    assert session["state"] == "live"
    assert flash["spec_label"] == room.flash.spec
    assert (flash["session_stock"], flash["available"], flash["per_buyer_limit"]) == (30, 30, 2)
    assert flash["live_price_fen"] == room.flash.live_price_fen < flash["list_price_fen"]
    items = [i for i in await all_rows(seeded.app, ShelfItem) if i.session_id == session["id"]]
    assert len(items) == len(shelf)
    assert all(live.is_demo for live in await all_rows(seeded.app, LiveSession))


async def test_the_ended_show_has_shipped_and_delivered_orders_with_tracking_numbers(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    async with seeded.app.state.ctx.uow(write=False) as uow:
        rows = (
            await uow.session.execute(
                sa.select(Order.state, Order.is_demo, Shipment.carrier, Shipment.tracking_no, Shipment.is_demo)
                .join(Shipment, Shipment.order_id == Order.id)
                .join(LiveSession, LiveSession.id == Order.session_id)
                .where(LiveSession.state == SessionState.ENDED)
            )
        ).all()
    assert sorted(r[0].value for r in rows) == ["delivered", "shipped", "shipped"]
    assert all(r[1] and r[4] and r[3] for r in rows)
    assert {r[2] for r in rows} == {"SF", "EMS"}


async def test_the_ended_demo_shows_products_have_reviews_with_tags(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    """Written through the real actions on delivered demo orders; a bad tag stays, answered."""
    ended = [x for x in await all_rows(seeded.app, LiveSession) if x.state.value == "ended"]
    skus = {i.sku_id for i in await all_rows(seeded.app, ShelfItem) if i.session_id in {x.id for x in ended}}
    titles = {p.id: p.title for p in await all_rows(seeded.app, Product)}
    products = {k.product_id for k in await all_rows(seeded.app, Sku) if k.id in skus}
    # the koi were reviewed; the jade pendants are the quota show's (demo/integrity.py)
    assert ended and {titles[p] for p in products} == {demo_aftersales.PRODUCT, demo_integrity.QUOTA_PRODUCT}
    (product,) = {p for p in products if titles[p] == demo_aftersales.PRODUCT}
    client = seeded_clients()
    reviews = (await client.get(f"/api/v1/products/{product}/reviews")).json()
    assert reviews["summary"]["count"] == len(demo_reviews.REVIEWS)
    assert ("packaging_size", False) in {(t["tag"], t["positive"]) for t in reviews["summary"]["tags"]}
    assert sum(1 for r in reviews["items"] if r["reply"]) == 1
    page = (await client.get(f"/p/{product}")).text
    assert page.count('data-testid="tag-count"') == len(reviews["summary"]["tags"]) and "包装过大或过小" in page
    reviewers = [u for u in await all_rows(seeded.app, User) if u.email.endswith(demo_reviews.REVIEWER_DOMAIN)]
    assert len(reviewers) == len(demo_reviews.REVIEWS) and all(u.is_demo for u in reviewers)
    ids = {u.id for u in reviewers}
    orders = [o for o in await all_rows(seeded.app, Order) if o.state == OrderState.DELIVERED and o.buyer_id in ids]
    assert len(orders) == len(demo_reviews.REVIEWS) and all(o.is_demo for o in orders)


async def test_a_live_demo_room_offers_a_coupon_to_claim(seeded: Seeded, seeded_clients: ClientFactory) -> None:
    from fieldcast.commerce.coupons.models import CouponBatch

    (batch,) = await all_rows(seeded.app, CouponBatch)
    assert batch.is_demo and batch.session_id is not None and batch.coupons_left == batch.total
    coupons = (await seeded_clients().get(f"/api/v1/sessions/{batch.session_id}/coupons")).json()
    assert [c["batch"]["id"] for c in coupons] == [batch.id]
    assert 'data-testid="coupon-claim"' in (await seeded_clients().get(f"/live/{batch.session_id}")).text


async def test_demo_governments_and_market_supervision_offices_are_verified(seeded: Seeded) -> None:
    orgs = {o.slug: o for o in await all_rows(seeded.app, Organisation)}

    for org in demo.ORGANISATIONS:
        if org.kind == "government":
            assert orgs[org.slug].is_verified and orgs[org.slug].jurisdiction_code == org.jurisdiction, org.slug
        else:
            assert not orgs[org.slug].is_verified, org.slug
    for authority in demo_authorities.AUTHORITIES:
        office = orgs[authority.slug]
        assert office.kind == "inspection_authority" and office.is_verified and office.is_demo
        assert office.jurisdiction_code == authority.jurisdiction
        assert office.name == authority.name and "市场监督管理局" in office.name
