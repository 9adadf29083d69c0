"""Test data, made the way people make it: accounts, organisations with one member per role,
verified and official hosts, suppliers, products (inspected or not), scheduled and live shows.

Everything goes through the real API, except what has no door in it: a platform administrator is
created by the CLI's action, and roles are granted with the membership action (an invitation
round-trip for every member would only slow the tests). Nothing is inserted behind the actions'
backs. The request bodies are plain functions, so the browser tests' synchronous set-up
(tests/e2e/shows.py) sends the same data."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image

from fieldcast.accounts import actions
from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.schemas import SignUpIn
from fieldcast.accounts.security import id_number_with_check_digit
from fieldcast.live.models import LiveSession

PASSWORD = "correct horse battery"
JINGYU = "220622"  # 吉林省白山市靖宇县
JILIN = "220000"
JIAOZHOU = "370281"

MakeClient = Callable[[], httpx.AsyncClient]
# A member of a test organisation: their name (the key of their client, the local part of their
# e-mail and their display name), their role (None: an account outside the organisation) and,
# for hosts, the kind of real-name verification an administrator approved (None: unverified).
Member = tuple[str, Role | None, str | None]

CATALOG_MEMBERS: Sequence[Member] = (
    ("organiser", Role.ORGANISER, None),
    ("supplier", Role.SUPPLIER, None),
    ("inspector", Role.INSPECTOR, None),
    ("supervisor", Role.SUPERVISOR, None),
    ("host", Role.HOST, None),
)
LIVE_MEMBERS: Sequence[Member] = (
    ("organiser", Role.ORGANISER, None),
    ("host", Role.HOST, "first_secretary"),
    ("official", Role.HOST, "official"),
    ("unverified", Role.HOST, None),
    ("supplier", Role.SUPPLIER, None),
    ("outsider", None, None),
)

# ID numbers must differ between accounts of one database; every test starts from an empty one.
_id_serials = itertools.count()


# -- request bodies -------------------------------------------------------------------------------


def id_number(serial: int = 1) -> str:
    """A checksum-valid, made-up resident ID number (region 110101). Serials below 1000 are born
    1980-01-01; from 1000 on (next_id_serial) each 900 serials move the birth date a day later, so
    a process never runs out of numbers, however many accounts its shared browser server holds."""
    if serial < 1000:
        return id_number_with_check_digit(f"11010119800101{serial:03d}")
    n = serial - 1000
    born = datetime(1980, 1, 2, tzinfo=UTC) + timedelta(days=n // 900)
    return id_number_with_check_digit(f"110101{born:%Y%m%d}{100 + n % 900:03d}")


def next_id_serial() -> int:
    """A serial for id_number() that no other call in this test process has had."""
    return 1000 + next(_id_serials)


def verification_body(serial: int = 1, host_kind: str = "first_secretary") -> dict[str, str]:
    return {
        "legal_name": "测试人",
        "id_number": id_number(serial),
        "host_kind": host_kind,
        "position_title": "驻村第一书记",
        "jurisdiction": "吉林省靖宇县",
        "evidence_note": "县委组织部任命文件，单位电话可查。",
    }


def supplier_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "山货合作社",
        "kind": "cooperative",
        "ship_from_region": JINGYU,
        "contact_name": "王",
        "contact_phone": "0439-1234567",
    }
    body.update(overrides)
    return body


def product_body(supplier_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "supplier_id": supplier_id,
        "title": "靖宇蓝莓 5斤装",
        "description": "长白山脚下的野生蓝莓，当天采摘，冷链发货。",
        "category": "fresh_produce",
        "origin_region": JINGYU,
        "skus": [{"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 100}],
    }
    body.update(overrides)
    return body


def inspection_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sample_date": "2026-11-01",
        "lab_name": "靖宇县市场监督管理局检测中心",
        "certificate_no": "JY-2026-0042",
        "items_checked": ["农药残留", "重金属"],
        "result": "pass",
        "valid_until": "2099-12-31",
    }
    body.update(overrides)
    return body


def org_verification_body(jurisdiction: str = JINGYU) -> dict[str, str]:
    return {"jurisdiction_code": jurisdiction, "evidence_note": "市场监管总局机构名录可查，办公电话已回拨核实。"}


def png_bytes(size: tuple[int, int] = (1200, 900), color: str = "navy") -> bytes:
    """A real PNG image (uploads are decoded and re-encoded)."""
    buf = BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def soon(minutes: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


# -- accounts -------------------------------------------------------------------------------------


async def sign_up(client: httpx.AsyncClient, email: str, name: str = "Tester") -> dict[str, Any]:
    """Sign up through the API (the client keeps the session cookie) and fetch a CSRF token."""
    r = await client.post("/api/v1/auth/signup", json={"email": email, "display_name": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    csrf = (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    user: dict[str, Any] = r.json()
    return user


async def viewers(make_client: MakeClient, n: int, prefix: str = "viewer") -> list[httpx.AsyncClient]:
    """`n` signed-up accounts with nothing to do with any organisation (观众0号, 观众1号, ...)."""
    out = []
    for i in range(n):
        c = make_client()
        await sign_up(c, f"{prefix}{i}@example.com", f"观众{i}号")
        out.append(c)
    return out


async def make_admin(app: FastAPI, client: httpx.AsyncClient, email: str = "admin@example.com") -> dict[str, Any]:
    """A platform administrator, created as the CLI does it, then signed in on `client`."""
    async with app.state.ctx.uow() as uow:
        await actions.sign_up(
            uow, SignUpIn(email=email, display_name="Admin", password=PASSWORD), is_platform_admin=True
        )
    r = await client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
    admin: dict[str, Any] = r.json()
    return admin


async def apply_for_verification(
    client: httpx.AsyncClient, serial: int = 1, host_kind: str = "first_secretary"
) -> dict[str, Any]:
    """The signed-in user applies for real-name host verification; the pending request."""
    r = await client.post("/api/v1/me/verifications", json=verification_body(serial, host_kind))
    assert r.status_code == 201, r.text
    request: dict[str, Any] = r.json()
    return request


async def verify_host(admin: httpx.AsyncClient, client: httpx.AsyncClient, host_kind: str) -> None:
    """The user of `client` applies for verification as `host_kind` and the administrator approves."""
    request = await apply_for_verification(client, next_id_serial(), host_kind)
    r = await admin.post(f"/api/v1/verifications/{request['id']}/approve", json={"reason": "checked"})
    assert r.status_code == 200, r.text


# -- organisations --------------------------------------------------------------------------------


@dataclass
class Org:
    """A test organisation: each member's signed-in client and user id, by member name ("owner",
    "organiser", ...), and its supplier."""

    slug: str
    org_id: int
    clients: dict[str, httpx.AsyncClient]
    ids: dict[str, int]
    supplier_id: int

    def __getitem__(self, member: str) -> httpx.AsyncClient:
        return self.clients[member]


@dataclass
class LiveOrg(Org):
    """An organisation ready to schedule shows: an administrator's client ("admin"), verified hosts
    (one an official), and two published products, one with a passing inspection."""

    inspected_sku: int
    uninspected_sku: int


async def create_organisation(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """The signed-in user creates an organisation (and so owns it)."""
    r = await client.post("/api/v1/organisations", json=body)
    assert r.status_code == 201, r.text
    org: dict[str, Any] = r.json()
    return org


async def grant(app: FastAPI, email: str, slug: str, role: Role) -> None:
    """Give the user a role in the organisation, through the membership action."""
    async with app.state.ctx.uow() as uow:
        user = await uow.session.scalar(sa.select(User).where(User.email == email))
        org = await uow.session.scalar(sa.select(Organisation).where(Organisation.slug == slug))
        assert user is not None and org is not None
        await actions.add_member(uow, None, org, user, role)


async def add_person(
    app: FastAPI,
    make_client: MakeClient,
    org: Org,
    name: str,
    role: Role | None = None,
    host_kind: str | None = None,
    display_name: str | None = None,
) -> httpx.AsyncClient:
    """Sign up `name`@<slug>.example.com, give them `role` in `org` and, with `host_kind`, have the
    organisation's administrator ("admin") approve their verification; kept in org[name]."""
    client = make_client()
    email = f"{name}@{org.slug}.example.com"
    user = await sign_up(client, email, display_name or name)
    if role is not None:
        await grant(app, email, org.slug, role)
    if host_kind is not None:
        await verify_host(org["admin"], client, host_kind)
    org.clients[name] = client
    org.ids[name] = int(user["id"])
    return client


async def create_supplier(client: httpx.AsyncClient, slug: str, **overrides: Any) -> int:
    r = await client.post(f"/api/v1/organisations/{slug}/suppliers", json=supplier_body(**overrides))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def make_org(
    app: FastAPI,
    make_client: MakeClient,
    slug: str,
    region: str = JINGYU,
    *,
    members: Sequence[Member] = CATALOG_MEMBERS,
    admin: httpx.AsyncClient | None = None,
) -> Org:
    """A cooperative: its owner, one signed-in member per entry of `members`, and a supplier that
    ships from `region`. `admin` (an administrator's client) approves the hosts' verifications."""
    owner = make_client()
    me = await sign_up(owner, f"owner@{slug}.example.com", "负责人")
    created = await create_organisation(owner, {"slug": slug, "name": f"{slug} 合作社", "kind": "cooperative"})
    org = Org(slug, int(created["id"]), {"owner": owner}, {"owner": int(me["id"])}, supplier_id=0)
    if admin is not None:
        org.clients["admin"] = admin
    for name, role, host_kind in members:
        await add_person(app, make_client, org, name, role, host_kind)
    org.supplier_id = await create_supplier(owner, slug, ship_from_region=region)
    return org


async def verify_organisation(
    admin: httpx.AsyncClient, owner: httpx.AsyncClient, slug: str, jurisdiction: str = JINGYU
) -> dict[str, Any]:
    """The owner asks for the organisation's kind to be verified; the administrator approves."""
    r = await owner.post(f"/api/v1/organisations/{slug}/verifications", json=org_verification_body(jurisdiction))
    assert r.status_code == 201, r.text
    approved = await admin.post(f"/api/v1/org-verifications/{r.json()['id']}/approve", json={"reason": "核实"})
    assert approved.status_code == 200, approved.text
    request: dict[str, Any] = approved.json()
    return request


async def make_authority(
    app: FastAPI,
    make_client: MakeClient,
    slug: str,
    jurisdiction: str = JINGYU,
    *,
    admin: httpx.AsyncClient | None = None,
    name: str | None = None,
) -> Org:
    """An inspection authority (a market-supervision office) with an owner and an "inspector";
    verified for `jurisdiction` by `admin` when given, else left unverified."""
    owner = make_client()
    me = await sign_up(owner, f"owner@{slug}.example.com", "局长")
    body = {"slug": slug, "name": name or f"{slug} 市场监督管理局", "kind": "inspection_authority"}
    created = await create_organisation(owner, body)
    org = Org(slug, int(created["id"]), {"owner": owner}, {"owner": int(me["id"])}, supplier_id=0)
    await add_person(app, make_client, org, "inspector", Role.INSPECTOR)
    if admin is not None:
        await verify_organisation(admin, owner, slug, jurisdiction)
    return org


# -- products -------------------------------------------------------------------------------------


async def create_product(
    org: Org, by: str = "organiser", *, inspected_by: str | None = None, publish: bool = False, **overrides: Any
) -> dict[str, Any]:
    """A product of the organisation's supplier, made by member `by`; with a passing inspection
    recorded by `inspected_by` (a client in org.clients: an authority's inspector for it to
    count), and published by `by`, when asked. The product as created."""
    client = org[by]
    r = await client.post(f"/api/v1/organisations/{org.slug}/products", json=product_body(org.supplier_id, **overrides))
    assert r.status_code == 201, r.text
    product: dict[str, Any] = r.json()
    if inspected_by is not None:
        ins = await org[inspected_by].post(f"/api/v1/products/{product['id']}/inspections", json=inspection_body())
        assert ins.status_code == 201, ins.text
    if publish:
        pub = await client.post(f"/api/v1/products/{product['id']}/publish", json={})
        assert pub.status_code == 200, pub.text
    return product


# -- live rooms -----------------------------------------------------------------------------------


async def make_live_org(app: FastAPI, make_client: MakeClient, slug: str) -> LiveOrg:
    """See LiveOrg: members owner, admin, organiser, host (a verified first secretary), official,
    unverified (a host without verification), supplier and outsider."""
    admin = make_client()
    await make_admin(app, admin, f"admin@{slug}.example.com")
    org = await make_org(app, make_client, slug, members=LIVE_MEMBERS, admin=admin)
    # Inspections count only from a verified authority outside the seller (the county's office).
    authority = await make_authority(app, make_client, f"{slug}-amr", admin=admin)
    org.clients["authority_inspector"] = authority["inspector"]
    inspected = await create_product(org, "owner", inspected_by="authority_inspector", publish=True)
    uninspected = await create_product(org, "owner", title="长白山木耳 500克", publish=True)
    return LiveOrg(
        org.slug,
        org.org_id,
        org.clients,
        org.ids,
        org.supplier_id,
        inspected_sku=int(inspected["skus"][0]["id"]),
        uninspected_sku=int(uninspected["skus"][0]["id"]),
    )


def session_body(org: LiveOrg, **overrides: Any) -> dict[str, Any]:
    """A show in half an hour, hosted by the verified first secretary, with the inspected SKU."""
    body: dict[str, Any] = {
        "organisation_id": org.org_id,
        "title": "靖宇蓝莓助农直播",
        "scheduled_at": soon(),
        "host_ids": [org.ids["host"]],
        "shelf": [{"sku_id": org.inspected_sku, "live_price_fen": 7900, "session_stock": 50}],
    }
    body.update(overrides)
    return body


async def schedule_session(org: LiveOrg, by: str = "organiser", **overrides: Any) -> dict[str, Any]:
    """A show scheduled through the API by member `by` (see session_body); the session as created."""
    r = await org[by].post("/api/v1/sessions", json=session_body(org, **overrides))
    assert r.status_code == 201, r.text
    session: dict[str, Any] = r.json()
    return session


async def start_session(org: LiveOrg, session_id: int) -> None:
    """The host presses Start in the console."""
    r = await org["host"].post(f"/api/v1/sessions/{session_id}/start")
    assert r.status_code == 200, r.text


async def live_session(org: LiveOrg, *, start: bool = True, **overrides: Any) -> int:
    """A show scheduled by the organiser and, unless `start` is False, started by its host; its id."""
    session_id = int((await schedule_session(org, **overrides))["id"])
    if start:
        await start_session(org, session_id)
    return session_id


@dataclass
class Show:
    org: LiveOrg
    session_id: int
    stream_name: str


async def schedule_show(app: FastAPI, make_client: MakeClient, slug: str) -> Show:
    """An organisation with verified hosts and one show its owner scheduled, with the name the
    show's stream is published under."""
    org = await make_live_org(app, make_client, slug)
    session_id = int((await schedule_session(org, by="owner"))["id"])
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, session_id)
        assert live is not None
        stream_name = live.stream_name
    return Show(org, session_id, stream_name)


# -- lucky draws ----------------------------------------------------------------------------------


def draw_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prize_title": "靖宇蓝莓 5斤装",
        "prize_value_fen": 7900,
        "winners_count": 3,
        "entry_rule": "present",
        "terms": "包邮到家，开奖后三天内发货。",
    }
    body.update(overrides)
    return body


async def create_draw(org: LiveOrg, session_id: int, **overrides: Any) -> dict[str, Any]:
    """A lucky draw the host announces in the show (see draw_body); the draw as announced."""
    r = await org["host"].post(f"/api/v1/sessions/{session_id}/draws", json=draw_body(**overrides))
    assert r.status_code == 201, r.text
    draw: dict[str, Any] = r.json()
    return draw
