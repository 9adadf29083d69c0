"""Build a ready-to-schedule organisation through the real API: verified hosts (one an official),
a published product with a passing inspection and one without."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from fieldcast.accounts.models import Role
from tests.catalog.conftest import grant, inspection_body, product_body
from tests.helpers import make_admin, sign_up, verification_body

_serial = iter(range(100, 999))


@dataclass
class LiveOrg:
    slug: str
    org_id: int
    clients: dict[str, httpx.AsyncClient]
    ids: dict[str, int]
    inspected_sku: int
    uninspected_sku: int

    def __getitem__(self, role: str) -> httpx.AsyncClient:
        return self.clients[role]


async def _verified(app: FastAPI, admin: httpx.AsyncClient, client: httpx.AsyncClient, host_kind: str) -> None:
    r = await client.post("/api/v1/me/verifications", json=verification_body(next(_serial), host_kind))
    assert r.status_code == 201, r.text
    r = await admin.post(f"/api/v1/verifications/{r.json()['id']}/approve", json={"reason": "checked"})
    assert r.status_code == 200, r.text


async def make_live_org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient], slug: str) -> LiveOrg:
    admin = make_client()
    await make_admin(app, admin, f"admin@{slug}.example.com")
    owner = make_client()
    me = await sign_up(owner, f"owner@{slug}.example.com", "负责人")
    r = await owner.post("/api/v1/organisations", json={"slug": slug, "name": f"{slug} 合作社", "kind": "cooperative"})
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    clients = {"owner": owner, "admin": admin}
    ids = {"owner": me["id"]}
    for name, role, kind in (
        ("organiser", Role.ORGANISER, None),
        ("host", Role.HOST, "first_secretary"),
        ("official", Role.HOST, "official"),
        ("unverified", Role.HOST, None),
        ("supplier", Role.SUPPLIER, None),
        ("outsider", None, None),
    ):
        c = make_client()
        email = f"{name}@{slug}.example.com"
        user = await sign_up(c, email, name)
        if role is not None:
            await grant(app, email, slug, role)
        if kind is not None:
            await _verified(app, admin, c, kind)
        clients[name] = c
        ids[name] = user["id"]
    r = await owner.post(
        f"/api/v1/organisations/{slug}/suppliers",
        json={
            "name": "山货合作社",
            "kind": "cooperative",
            "ship_from_region": "220622",
            "contact_name": "王",
            "contact_phone": "0439-1234567",
        },
    )
    assert r.status_code == 201, r.text
    supplier_id = r.json()["id"]
    skus = []
    for title, inspected in (("靖宇蓝莓 5斤装", True), ("长白山木耳 500克", False)):
        r = await owner.post(f"/api/v1/organisations/{slug}/products", json=product_body(supplier_id, title=title))
        assert r.status_code == 201, r.text
        product = r.json()
        if inspected:
            ins = await clients["admin"].post(f"/api/v1/products/{product['id']}/inspections", json=inspection_body())
            assert ins.status_code == 201, ins.text
        pub = await owner.post(f"/api/v1/products/{product['id']}/publish", json={})
        assert pub.status_code == 200, pub.text
        skus.append(product["skus"][0]["id"])
    return LiveOrg(slug, org_id, clients, ids, skus[0], skus[1])


def soon(minutes: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def session_body(org: LiveOrg, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organisation_id": org.org_id,
        "title": "靖宇蓝莓助农直播",
        "scheduled_at": soon(),
        "host_ids": [org.ids["host"]],
        "shelf": [{"sku_id": org.inspected_sku, "live_price_fen": 7900, "session_stock": 50}],
    }
    body.update(overrides)
    return body
