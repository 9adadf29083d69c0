"""Products and SKUs: who may edit, who sees declared costs, claims at publish, storefront, search."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.catalog.models import REASON_MAX
from fieldcast.db.audit import AuditEntry
from tests.factories import JIAOZHOU, JILIN, create_product, inspection_body, product_body
from tests.live.conftest import post_form


async def _publish(org: Any, product_id: int, **body: str) -> httpx.Response:
    return await org["organiser"].post(f"/api/v1/products/{product_id}/publish", json=body)


async def test_a_supplier_of_a_cannot_edit_bs_products(make_org: Callable[..., Any]) -> None:
    a = await make_org("org-a")
    b = await make_org("org-b")
    product_b = await create_product(b)
    r = await a["supplier"].patch(f"/api/v1/products/{product_b['id']}", json={"title": "被改了"})
    assert r.status_code == 404  # B's draft is not even visible to A
    await _publish(b, product_b["id"])
    r = await a["supplier"].patch(f"/api/v1/products/{product_b['id']}", json={"title": "被改了"})
    assert r.status_code == 403 and r.json()["code"] == "missing_role"
    r = await a["supplier"].post(
        f"/api/v1/products/{product_b['id']}/skus",
        json={"spec_label": "x", "price_fen": 1, "weight_g": 1, "shelf_life_days": 1},
    )
    assert r.status_code == 403
    assert (
        await a["supplier"].post(f"/api/v1/organisations/{b.slug}/products", json=product_body(b.supplier_id))
    ).status_code == 403
    own = await a["supplier"].post(f"/api/v1/organisations/{a.slug}/products", json=product_body(a.supplier_id))
    assert own.status_code == 201
    assert (
        await a["supplier"].patch(f"/api/v1/products/{own.json()['id']}", json={"title": "靖宇蓝莓 礼盒"})
    ).status_code == 200


async def test_hosts_and_viewers_cannot_create_products(
    make_org: Callable[..., Any], make_client: Callable[[], httpx.AsyncClient]
) -> None:
    org = await make_org("hosts")
    assert (
        await org["host"].post(f"/api/v1/organisations/{org.slug}/products", json=product_body(org.supplier_id))
    ).status_code == 403
    assert (
        await make_client().post(f"/api/v1/organisations/{org.slug}/products", json=product_body(org.supplier_id))
    ).status_code == 401


async def test_declared_cost_is_hidden_from_the_public_and_other_roles(
    make_org: Callable[..., Any], make_client: Callable[[], httpx.AsyncClient]
) -> None:
    org = await make_org("costs")
    product = await create_product(
        org,
        skus=[
            {
                "spec_label": "5斤装",
                "price_fen": 9900,
                "unit_cost_fen": 6100,
                "weight_g": 2500,
                "shelf_life_days": 7,
                "stock": 10,
            }
        ],
    )
    assert product["skus"][0]["unit_cost_fen"] == 6100
    assert (await _publish(org, product["id"])).status_code == 200
    url = f"/api/v1/products/{product['id']}"
    for role in ("organiser", "owner", "inspector", "supervisor"):
        assert (await org[role].get(url)).json()["skus"][0]["unit_cost_fen"] == 6100, role
    anonymous = make_client()
    for who in (org["supplier"], org["host"], anonymous):
        body = (await who.get(url)).json()
        assert body["skus"][0]["unit_cost_fen"] is None
    for page in (f"/p/{product['id']}", f"/s/{org.slug}", "/products"):
        html = (await anonymous.get(page)).text
        assert "¥61.00" not in html and "申报成本" not in html, page
    assert "¥61.00" in (await org["organiser"].get(f"/p/{product['id']}")).text
    listing = (await anonymous.get("/api/v1/products")).text
    assert "unit_cost" not in listing


async def test_suppliers_cannot_declare_costs(make_org: Callable[..., Any]) -> None:
    org = await make_org("supcost")
    body = product_body(
        org.supplier_id,
        skus=[{"spec_label": "5斤装", "price_fen": 9900, "unit_cost_fen": 1, "weight_g": 2500, "shelf_life_days": 7}],
    )
    r = await org["supplier"].post(f"/api/v1/organisations/{org.slug}/products", json=body)
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "skus.0.unit_cost_fen"


async def test_fresh_produce_needs_a_shelf_life_and_money_is_integer_fen(make_org: Callable[..., Any]) -> None:
    org = await make_org("fresh")
    no_shelf = product_body(org.supplier_id, skus=[{"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500}])
    r = await org["organiser"].post(f"/api/v1/organisations/{org.slug}/products", json=no_shelf)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "skus.0.shelf_life_days"
    fractional = product_body(
        org.supplier_id, skus=[{"spec_label": "x", "price_fen": 99.5, "weight_g": 1, "shelf_life_days": 1}]
    )
    r = await org["organiser"].post(f"/api/v1/organisations/{org.slug}/products", json=fractional)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "skus.0.price_fen"
    bad_region = await org["organiser"].post(
        f"/api/v1/organisations/{org.slug}/products", json=product_body(org.supplier_id, origin_region="999999")
    )
    assert bad_region.status_code == 422 and bad_region.json()["errors"][0]["field"] == "origin_region"


async def test_publishing_text_with_claims_needs_an_organisers_reason(
    make_org: Callable[..., Any], app: FastAPI
) -> None:
    org = await make_org("fengcheng")
    product = await create_product(
        org,
        title="富硒大米 提高免疫力",
        category="processed_food",
        skus=[{"spec_label": "5kg", "price_fen": 8800, "weight_g": 5000}],
    )
    assert {h["term"] for h in product["claims"]} >= {"提高免疫力"}
    refused = await _publish(org, product["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "claims_need_override"
    assert refused.json()["errors"][0]["field"] == "override_reason"
    by_supplier = await org["supplier"].post(f"/api/v1/products/{product['id']}/publish", json={"override_reason": "x"})
    assert by_supplier.status_code == 403
    ok = await _publish(org, product["id"], override_reason="检测报告显示硒含量达标，措辞待下一版修改")
    assert ok.status_code == 200 and ok.json()["status"] == "published"
    async with app.state.ctx.uow() as uow:
        entry = await uow.session.scalar(
            sa.select(AuditEntry).where(AuditEntry.action == "product.publish_with_override")
        )
    assert entry is not None and entry.reason.startswith("检测报告") and entry.details["claims"]


async def test_fixing_the_text_clears_the_warning_and_published_text_stays_clean(make_org: Callable[..., Any]) -> None:
    org = await make_org("clean")
    product = await create_product(org, title="全县第一的蓝莓")
    assert product["claims"]
    fixed = await org["organiser"].patch(f"/api/v1/products/{product['id']}", json={"title": "靖宇蓝莓 5斤装"})
    assert fixed.json()["claims"] == []
    assert (await _publish(org, product["id"])).status_code == 200
    dirty = await org["organiser"].patch(f"/api/v1/products/{product['id']}", json={"description": "吃了能治愈失眠"})
    assert dirty.status_code == 409 and dirty.json()["errors"][0]["field"] == "description"
    assert (await org["organiser"].get(f"/api/v1/products/{product['id']}")).json()["description"] == product[
        "description"
    ]


async def test_a_withdraw_reason_over_the_limit_is_refused_not_cut_short(
    make_org: Callable[..., Any], app: FastAPI
) -> None:
    """The rule is withdraw_product's: the API and the edit page refuse a reason over the limit on
    the field (the page shows its form again, as typed) and the product stays on sale."""
    org = await make_org("withdraw")
    product = await create_product(org)
    assert (await _publish(org, product["id"])).status_code == 200
    organiser, page_url = org["organiser"], f"/p/{product['id']}/withdraw"
    too_long = "缺" * (REASON_MAX + 1)
    api = await organiser.post(f"/api/v1/products/{product['id']}/withdraw", json={"reason": too_long})
    assert api.status_code == 422
    [(field, message)] = [(e["field"], e["message"]) for e in api.json()["errors"]]
    assert field == "reason" and str(REASON_MAX) in message
    page = await post_form(organiser, page_url, {"reason": too_long})
    assert page.status_code == 422
    error = re.search(r'data-testid="error-reason">([^<]*)<', page.text)
    assert error is not None and html.unescape(error.group(1)) == message
    assert f'value="{too_long}"' in page.text
    assert (await organiser.get(f"/api/v1/products/{product['id']}")).json()["status"] == "published"
    # Who may withdraw is still answered by the error page, not by the form.
    assert (await post_form(org["supplier"], page_url, {"reason": "断货"})).status_code == 403

    assert (await post_form(organiser, page_url, {"reason": "  断货  "})).status_code == 303
    assert (await organiser.get(f"/api/v1/products/{product['id']}")).json()["status"] == "withdrawn"
    async with app.state.ctx.uow() as uow:
        reasons = await uow.session.scalars(sa.select(AuditEntry.reason).where(AuditEntry.action == "product.withdraw"))
        assert list(reasons) == ["断货"]


async def test_publishing_needs_an_active_sku(make_org: Callable[..., Any]) -> None:
    org = await make_org("nosku")
    product = await create_product(org, skus=[])
    r = await _publish(org, product["id"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "skus"


async def test_storefront_search_and_drafts(
    make_org: Callable[..., Any], make_authority: Callable[..., Any], make_client: Callable[[], httpx.AsyncClient]
) -> None:
    org = await make_org("dabeishan", region="220622")
    jilin_berries = await create_product(org)
    draft = await create_product(
        org,
        title="林蛙油 礼盒",
        category="processed_food",
        skus=[{"spec_label": "礼盒", "price_fen": 19900, "weight_g": 300}],
    )
    authority = await make_authority("jingyu-amr")
    inspected = await authority["inspector"].post(
        f"/api/v1/products/{jilin_berries['id']}/inspections", json=inspection_body()
    )
    assert inspected.status_code == 201, inspected.text
    await _publish(org, jilin_berries["id"])
    anonymous = make_client()

    store = await anonymous.get(f"/s/{org.slug}")
    assert "靖宇蓝莓" in store.text and "林蛙油" not in store.text
    assert 'data-testid="product-card"' in store.text
    page = await anonymous.get(f"/p/{jilin_berries['id']}")
    assert page.status_code == 200 and "JY-2026-0042" in page.text and 'data-testid="badge-inspected"' in page.text
    assert 'data-testid="buy-button"' in page.text
    assert (await anonymous.get(f"/p/{draft['id']}")).status_code == 404
    assert (await anonymous.get(f"/api/v1/products/{draft['id']}")).status_code == 404
    assert (await org["supplier"].get(f"/api/v1/products/{draft['id']}")).status_code == 200

    async def ids(**params: str) -> list[int]:
        r = await anonymous.get("/api/v1/products", params=params)
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["items"]]

    assert await ids() == [jilin_berries["id"]]
    assert await ids(q="蓝莓") == [jilin_berries["id"]]
    assert await ids(q="苹果") == []
    assert await ids(region=JILIN) == [jilin_berries["id"]]  # the province includes its counties
    assert await ids(region=JIAOZHOU) == []
    assert await ids(category="fresh_produce") == [jilin_berries["id"]]
    assert await ids(category="aircraft") == []
    drafts = await org["organiser"].get(
        "/api/v1/products", params={"organisation": org.slug, "include_unpublished": "true"}
    )
    assert {p["id"] for p in drafts.json()["items"]} == {jilin_berries["id"], draft["id"]}
    assert (
        await anonymous.get("/api/v1/products", params={"organisation": org.slug, "include_unpublished": "true"})
    ).status_code == 401
    search_page = await anonymous.get("/products", params={"q": "蓝莓", "province": JILIN})
    assert "靖宇蓝莓" in search_page.text


async def test_reads_carry_etags(make_org: Callable[..., Any], make_client: Callable[[], httpx.AsyncClient]) -> None:
    org = await make_org("etag")
    product = await create_product(org)
    await _publish(org, product["id"])
    anonymous = make_client()
    first = await anonymous.get(f"/api/v1/products/{product['id']}")
    tag = first.headers["etag"]
    again = await anonymous.get(f"/api/v1/products/{product['id']}", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    await org["organiser"].patch(f"/api/v1/products/{product['id']}", json={"title": "靖宇蓝莓 10斤装"})
    changed = await anonymous.get(f"/api/v1/products/{product['id']}", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    listing = await anonymous.get("/api/v1/products")
    assert (
        await anonymous.get("/api/v1/products", headers={"If-None-Match": listing.headers["etag"]})
    ).status_code == 304
