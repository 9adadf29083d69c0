"""The demo seed and `create-admin`: idempotent, marked as demo, made through the real actions,
usable through the API, and free of the names of the real people in the news stories."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast import demo
from fieldcast.accounts.models import HostKind, HostVerification, Membership, Organisation, Role, User
from fieldcast.accounts.security import id_number_with_check_digit
from fieldcast.app import create_app
from fieldcast.config import Settings, async_database_url
from fieldcast.db.migrate import upgrade_async
from fieldcast.integrity.models import AuditEntry
from tests.conftest import TEST_SECRET
from tests.helpers import PASSWORD, sign_up

ClientFactory = Callable[[], httpx.AsyncClient]

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
    "viewer",
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


@dataclass
class Seeded:
    app: FastAPI
    settings: Settings
    logins: list[demo.DemoLogin]


@pytest.fixture(scope="module")
async def seeded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Seeded]:
    """One seeded database and app shared by the read-only tests of this module: seeding hashes
    ~20 passwords with argon2, too slow to repeat per test. It is its own SQLite file, so the
    per-test wipe of the shared test database never touches it."""
    folder = tmp_path_factory.mktemp("demo")
    url = async_database_url(f"sqlite:///{folder / 'demo.sqlite3'}")
    await upgrade_async(url)
    settings = Settings(database_url=url, data_dir=folder, secret_key=TEST_SECRET, redis_url="")
    logins = await demo.seed(settings)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield Seeded(application, settings, logins)


@pytest.fixture
async def seeded_clients(seeded: Seeded) -> AsyncIterator[ClientFactory]:
    """HTTP clients (separate cookie jars) on the seeded app."""
    clients: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=seeded.app), base_url="http://testserver")
        clients.append(c)
        return c

    yield factory
    for c in clients:
        await c.aclose()


def _squash(name: str) -> str:
    return re.sub(r"[\s'·-]", "", name).lower()


async def _count(app: FastAPI, model: type[Any]) -> int:
    async with app.state.ctx.uow() as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def _all(app: FastAPI, model: type[Any]) -> list[Any]:
    async with app.state.ctx.uow() as uow:
        return list((await uow.session.scalars(sa.select(model))).all())


async def _signed_in(make_client: ClientFactory, email: str, password: str) -> httpx.AsyncClient:
    client = make_client()
    r = await client.post("/api/v1/auth/signin", json={"email": email, "password": password})
    assert r.status_code == 200, (email, r.text)
    return client


def _person(key: str) -> demo._Person:
    return next(p for p in demo.PEOPLE if p.key == key)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_seeding_twice_returns_the_same_logins_and_duplicates_nothing(
    backend: str, app: FastAPI, settings: Settings
) -> None:
    tables = (User, Organisation, Membership, HostVerification, AuditEntry)
    first = await demo.seed(settings)
    counts = [await _count(app, m) for m in tables]

    second = await demo.seed(settings)

    assert second == first
    assert [await _count(app, m) for m in tables] == counts
    assert counts[0] == len(demo.PEOPLE)
    assert counts[1] == len(demo.ORGANISATIONS)


async def test_logins_cover_every_role_once_with_a_valid_shared_password(seeded: Seeded) -> None:
    roles = [x.role for x in seeded.logins]
    assert set(ROLES) <= set(roles)
    assert len(roles) == len(set(roles))
    assert all(x.password == demo.DEMO_PASSWORD for x in seeded.logins)
    assert len(demo.DEMO_PASSWORD) >= 10
    assert all(x.email.endswith("@" + demo.DEMO_EMAIL_DOMAIN) for x in seeded.logins)


async def test_everything_seeded_is_marked_demo(seeded: Seeded) -> None:
    users = await _all(seeded.app, User)
    orgs = await _all(seeded.app, Organisation)
    verifications = await _all(seeded.app, HostVerification)

    assert len(users) == len(demo.PEOPLE)
    assert len(orgs) == len(demo.ORGANISATIONS)
    assert len(verifications) == len([p for p in demo.PEOPLE if p.verification])
    assert all(u.is_demo for u in users)
    assert all(o.is_demo for o in orgs)
    assert all(v.is_demo for v in verifications)


async def test_seed_creates_the_story_organisations_with_their_kinds(seeded: Seeded) -> None:
    orgs = {o.slug: o for o in await _all(seeded.app, Organisation)}

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
    actions = [e.action for e in await _all(seeded.app, AuditEntry)]

    assert actions.count("user.sign_up") == len(demo.PEOPLE)
    assert actions.count("organisation.create") == len(demo.ORGANISATIONS)
    assert actions.count("user.make_admin") == 1
    states = [p.verification.state for p in demo.PEOPLE if p.verification]
    assert actions.count("verification.apply") == len(states)
    assert actions.count("verification.approve") == len([s for s in states if s != "pending"])
    assert actions.count("membership.add") == sum(len(p.memberships) for p in demo.PEOPLE)


async def test_every_demo_account_signs_in_and_hosts_show_their_badges(
    seeded: Seeded, seeded_clients: ClientFactory
) -> None:
    printed = {x.email: x.password for x in seeded.logins}

    for person in demo.PEOPLE:
        client = await _signed_in(seeded_clients, person.email, printed.get(person.email, demo.DEMO_PASSWORD))
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
        client = await _signed_in(seeded_clients, logins[role].email, logins[role].password)
        badges = (await client.get("/api/v1/me")).json()["badges"]
        assert badges["verified"] is True
        assert badges["official"] is official
    for role in ("host (pending verification)", "host (verification expired)"):
        client = await _signed_in(seeded_clients, logins[role].email, logins[role].password)
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
    admin = await _signed_in(seeded_clients, login.email, login.password)

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
        ("inspector", Role.INSPECTOR),
        ("supervisor", Role.SUPERVISOR),
    ):
        assert role.value in roles[_person(key).display_name]
    assert "supplier" in {r for m in coop for r in m["roles"]}


async def test_no_seeded_person_carries_the_name_of_a_real_person(seeded: Seeded) -> None:
    names = {u.display_name for u in await _all(seeded.app, User)}
    names |= {v.legal_name for v in await _all(seeded.app, HostVerification)}

    real_latin = {_squash(n) for n in REAL_NAMES_LATIN}
    for name in names:
        assert name not in REAL_NAMES_HANZI
        assert _squash(name) not in real_latin
        assert not any(real in name for real in REAL_NAMES_HANZI if len(real) >= 3), name


async def test_print_logins_shows_every_role_and_the_site_url(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": 8123})

    demo.print_logins(demo.demo_logins(), settings)

    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123" in out
    for login in demo.demo_logins():
        assert login.role in out
        assert login.email in out
    assert demo.DEMO_PASSWORD in out
    for person in demo.PEOPLE:  # hosts beyond the one-per-role table are listed too
        assert person.email in out


async def test_ensure_admin_creates_an_administrator_who_can_sign_in(
    app: FastAPI, settings: Settings, make_client: ClientFactory
) -> None:
    created = await demo.ensure_admin(settings, email="Boss@Example.com", display_name="平台运维", password=PASSWORD)

    assert created is True
    client = await _signed_in(make_client, "boss@example.com", PASSWORD)
    assert (await client.get("/api/v1/me")).json()["is_platform_admin"] is True
    assert (await client.get("/api/v1/verifications")).status_code == 200


async def test_ensure_admin_promotes_an_existing_account_and_records_it(
    app: FastAPI, settings: Settings, client: httpx.AsyncClient
) -> None:
    user = await sign_up(client, "someone@example.com", "某用户")
    assert (await client.get("/api/v1/verifications")).status_code == 403

    first = await demo.ensure_admin(settings, email="someone@example.com", display_name="x", password=PASSWORD)
    again = await demo.ensure_admin(settings, email="someone@example.com", display_name="x", password=PASSWORD)

    assert first is False
    assert again is False
    me = (await client.get("/api/v1/me")).json()
    assert me["is_platform_admin"] is True
    assert me["display_name"] == "某用户"  # only the flag changes
    promotions = [
        e for e in await _all(app, AuditEntry) if e.action == "user.make_admin" and e.target_id == str(user["id"])
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
        await demo.ensure_admin(settings, email=email, display_name="Admin", password=password)
    assert await _count(app, User) == 0
