"""Catalog fixtures: an organisation with one member per role, each with its own signed-in client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts import actions
from fieldcast.accounts.models import Organisation, Role, User
from tests.helpers import sign_up

JINGYU = "220622"  # 靖宇县
JILIN = "220000"
JIAOZHOU = "370281"


@dataclass
class Org:
    slug: str
    clients: dict[str, httpx.AsyncClient]
    supplier_id: int

    def __getitem__(self, role: str) -> httpx.AsyncClient:
        return self.clients[role]


async def grant(app: FastAPI, email: str, slug: str, role: Role) -> None:
    async with app.state.ctx.uow() as uow:
        user = await uow.session.scalar(sa.select(User).where(User.email == email))
        org = await uow.session.scalar(sa.select(Organisation).where(Organisation.slug == slug))
        assert user is not None and org is not None
        await actions.add_member(uow, None, org, user, role)


@pytest.fixture
def make_org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> Callable[..., Any]:
    async def factory(slug: str, region: str = JINGYU) -> Org:
        owner = make_client()
        await sign_up(owner, f"owner@{slug}.example.com", "负责人")
        r = await owner.post(
            "/api/v1/organisations", json={"slug": slug, "name": f"{slug} 合作社", "kind": "cooperative"}
        )
        assert r.status_code == 201, r.text
        clients = {"owner": owner}
        for role in ("organiser", "supplier", "inspector", "supervisor", "host"):
            c = make_client()
            email = f"{role}@{slug}.example.com"
            await sign_up(c, email, role)
            await grant(app, email, slug, Role(role))
            clients[role] = c
        supplier = await owner.post(
            f"/api/v1/organisations/{slug}/suppliers",
            json={
                "name": "山货合作社",
                "kind": "cooperative",
                "ship_from_region": region,
                "contact_name": "王",
                "contact_phone": "0439-1234567",
            },
        )
        assert supplier.status_code == 201, supplier.text
        return Org(slug=slug, clients=clients, supplier_id=supplier.json()["id"])

    return factory


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
