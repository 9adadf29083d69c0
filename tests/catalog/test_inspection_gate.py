"""Inspection status is derived from the latest sampling inspection; the public-welfare gate uses it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fieldcast.catalog.errors import NotEligibleForPublicWelfare
from fieldcast.catalog.models import Inspection, InspectionResult, InspectionStatus
from fieldcast.catalog.queries import inspection_status, public_welfare_gate, require_public_welfare_eligible
from tests.factories import create_product, inspection_body

TODAY = date(2026, 11, 23)


def _inspection(result: str, valid_until: date) -> Inspection:
    return Inspection(result=InspectionResult(result), valid_until=valid_until, sample_date=date(2026, 11, 1))


@pytest.mark.parametrize(
    ("latest", "expected"),
    [
        (None, InspectionStatus.NONE),
        (_inspection("pass", date(2026, 12, 31)), InspectionStatus.PASSED),
        (_inspection("pass", TODAY), InspectionStatus.PASSED),  # valid through its last day
        (_inspection("pass", date(2026, 11, 22)), InspectionStatus.EXPIRED),
        (_inspection("fail", date(2026, 12, 31)), InspectionStatus.FAILED),
    ],
)
def test_status_is_derived_from_the_latest_inspection(latest: Inspection | None, expected: InspectionStatus) -> None:
    assert inspection_status(latest, TODAY) == expected


async def test_the_latest_inspection_wins_and_the_gate_follows_it(
    make_org: Callable[..., Any],
    make_authority: Callable[..., Any],
    app: FastAPI,
    make_client: Callable[[], httpx.AsyncClient],
) -> None:
    org = await make_org("dabeishan")
    product = await create_product(org)
    sku_id = product["skus"][0]["id"]
    inspector: httpx.AsyncClient = (await make_authority("jingyu-amr"))["inspector"]
    url = f"/api/v1/products/{product['id']}/inspections"

    async def gate() -> InspectionStatus:
        async with app.state.ctx.uow() as uow:
            (result,) = await public_welfare_gate(uow.session, [sku_id])
        return result.status

    assert await gate() == InspectionStatus.NONE
    assert (await inspector.post(url, json=inspection_body(sample_date="2026-10-01", result="fail"))).status_code == 201
    assert await gate() == InspectionStatus.FAILED
    assert (await inspector.post(url, json=inspection_body(sample_date="2026-11-01"))).status_code == 201
    assert await gate() == InspectionStatus.PASSED
    async with app.state.ctx.uow() as uow:
        await require_public_welfare_eligible(uow.session, [sku_id])  # does not raise
        with pytest.raises(NotEligibleForPublicWelfare):
            await require_public_welfare_eligible(uow.session, [sku_id], today=date(2100, 1, 1))
        with pytest.raises(NotEligibleForPublicWelfare):
            await require_public_welfare_eligible(uow.session, [sku_id, 999_999])
    public = await make_client().get(f"/api/v1/products/{product['id']}/inspections")
    assert public.status_code == 404  # a draft's inspections are not public either


async def test_an_expired_pass_is_not_eligible(
    make_org: Callable[..., Any], make_authority: Callable[..., Any]
) -> None:
    org = await make_org("zigui")
    product = await create_product(org)
    authority = await make_authority("jingyu-amr")
    r = await authority["inspector"].post(
        f"/api/v1/products/{product['id']}/inspections",
        json=inspection_body(sample_date="2024-01-01", valid_until="2024-06-30"),
    )
    assert r.status_code == 201
    gate = await org["organiser"].post(
        "/api/v1/catalog/public-welfare-gate", json={"sku_ids": [product["skus"][0]["id"]]}
    )
    assert gate.json() == [{"sku_id": product["skus"][0]["id"], "eligible": False, "status": "expired"}]
    shown = (await org["organiser"].get(f"/api/v1/products/{product['id']}")).json()["inspection"]
    assert shown["status"] == "expired" and shown["certificate_no"] == "JY-2026-0042"


async def test_no_member_of_the_seller_records_inspections(
    make_org: Callable[..., Any], make_authority: Callable[..., Any]
) -> None:
    a = await make_org("org-a")
    b = await make_org("org-b")
    product = await create_product(a)
    url = f"/api/v1/products/{product['id']}/inspections"
    for who in (a["organiser"], a["supplier"], a["owner"]):
        r = await who.post(url, json=inspection_body())
        assert r.status_code == 403, r.text
    own = await a["inspector"].post(url, json=inspection_body())  # the seller's own "inspector"
    assert own.status_code == 403 and own.json()["code"] == "own_goods", own.text
    assert (await a["host"].post(url, json=inspection_body())).status_code == 404  # drafts are for insiders
    # An inspector of another seller cannot even see A's draft.
    assert (await b["inspector"].post(url, json=inspection_body())).status_code == 404
    authority = await make_authority("jingyu-amr")
    assert (await authority["inspector"].post(url, json=inspection_body())).status_code == 201


async def test_inspection_dates_are_checked(make_org: Callable[..., Any], make_authority: Callable[..., Any]) -> None:
    org = await make_org("dates")
    product = await create_product(org)
    url = f"/api/v1/products/{product['id']}/inspections"
    inspector = (await make_authority("jingyu-amr"))["inspector"]
    future = await inspector.post(url, json=inspection_body(sample_date="2999-01-01", valid_until="2999-02-01"))
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "sample_date"
    backwards = await inspector.post(url, json=inspection_body(valid_until="2020-01-01"))
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "valid_until"
    no_items = await inspector.post(url, json=inspection_body(items_checked=[]))
    assert no_items.status_code == 422 and no_items.json()["errors"][0]["field"] == "items_checked"
