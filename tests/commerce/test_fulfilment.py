"""Drop-shipping by the supplier: shipping with a checked tracking number (page, API, a CSV or XLSX
file where any bad row stops the whole file and every bad row is named), tracking statuses, the
promised ship-by time and the overdue list, delivery confirmed by the buyer or by the clock, and
who may NOT do each of these. Runs on SQLite and PostgreSQL (tests/commerce is ON_BOTH_BACKENDS)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from openpyxl import Workbook

from fieldcast.commerce import orders as order_actions
from fieldcast.commerce.carriers import CARRIERS, find_carrier
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.fulfilment_tasks import auto_confirm_due, poll_tracker
from fieldcast.commerce.models import Order, Shipment, TrackingEvent, TrackingStatus
from fieldcast.commerce.tracking import TrackingUpdate
from fieldcast.db.audit import AuditEntry
from fieldcast.db.base import utcnow
from tests.commerce.buyers import MASKED, PHONE, Buyer, buy, make_buyer
from tests.conftest import QueryCounter
from tests.factories import LiveOrg, MakeClient
from tests.live.conftest import post_form

SF = "SF1234567890123"


async def paid_order(app: FastAPI, shop: LiveOrg, buyer: Buyer, *, paid_hours_ago: float = 0) -> int:
    (order,) = await buy(app, buyer, Wanted(shop.inspected_sku, 1))
    async with app.state.ctx.uow() as uow:
        paid_at = utcnow() - timedelta(hours=paid_hours_ago)
        assert await order_actions.pay_orders(uow, [order], paid_at) == []
    return order


async def ship(
    client: httpx.AsyncClient, order: int, carrier: str = "SF", number: str = SF, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"carrier": carrier, "tracking_no": number}
    return await client.post(f"/api/v1/orders/{order}/shipment", json=body, headers=headers or {})


async def states(app: FastAPI, *orders: int) -> list[str]:
    async with app.state.ctx.uow(write=False) as uow:
        rows = await uow.session.scalars(sa.select(Order.state).where(Order.id.in_(orders)).order_by(Order.id))
        return [s.value for s in rows]


async def shipment_count(app: FastAPI) -> int:
    async with app.state.ctx.uow(write=False) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.count(Shipment.id))) or 0)


# -- carriers -------------------------------------------------------------------------------------


def test_every_carrier_accepts_its_example_and_refuses_typos() -> None:
    assert {"SF", "JD", "EMS", "ZTO", "YTO", "STO", "YUNDA", "JT", "DEPPON", "BEST"} <= set(CARRIERS)
    for carrier in CARRIERS.values():
        assert carrier.accepts(carrier.example), carrier.code
        assert not carrier.accepts(carrier.example + "0000"), carrier.code  # too long
        assert not carrier.accepts(carrier.example[:-4]), carrier.code  # too short
        assert not carrier.accepts(carrier.example[:-1] + "?"), carrier.code
        assert carrier.name_zh and carrier.name_en
    assert not CARRIERS["SF"].accepts("YT1234567890123")  # a YTO number pasted under SF
    assert not CARRIERS["JT"].accepts("JT12345")
    assert find_carrier("顺丰速运") is CARRIERS["SF"] and find_carrier(" j&t ") is CARRIERS["JT"]
    assert find_carrier("UPS") is None


# -- shipping one order ---------------------------------------------------------------------------


async def test_the_supplier_ships_with_a_tracking_number_and_the_buyer_confirms(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    order = await paid_order(app, shop, buyer)
    supplier = shop["supplier"]

    r = await ship(supplier, order, "SF", "YT1234567890123")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tracking_no"
    r = await ship(supplier, order, "UPS", "1Z999")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "carrier"
    assert await states(app, order) == ["paid"]

    key = {"Idempotency-Key": "ship-1"}
    first = await ship(supplier, order, "sf", "sf 1234-5678-90123", headers=key)
    assert first.status_code == 201, first.text
    again = await ship(supplier, order, "sf", "sf 1234-5678-90123", headers=key)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    body = first.json()
    assert body["order"]["state"] == "shipped"
    assert (body["shipment"]["carrier"], body["shipment"]["tracking_no"]) == ("SF", SF)
    assert body["shipment"]["status"] == "shipped"
    assert await shipment_count(app) == 1
    assert (await ship(supplier, order, "SF", SF)).status_code == 409  # shipped already

    # The supplier reports the parcel moving (the manual tracker).
    r = await supplier.post(f"/api/v1/orders/{order}/tracking", json={"status": "in_transit", "note": "长春转运中心"})
    assert r.status_code == 200 and r.json()["shipment"]["status"] == "in_transit"
    assert [e["status"] for e in r.json()["shipment"]["events"]] == ["in_transit", "shipped"]

    page = await buyer.client.get(f"/orders/{order}")
    assert page.status_code == 200
    assert 'data-testid="tracking-no">SF1234567890123<' in page.text and "顺丰速运" in page.text
    assert 'data-testid="confirm-delivery"' in page.text and 'data-testid="tracking-form"' not in page.text
    detail = (await buyer.client.get(f"/api/v1/orders/{order}/shipment")).json()
    assert detail["shipment"]["tracking_no"] == SF and detail["order"]["actions"] == ["confirm_delivery"]

    r = await buyer.client.post(f"/api/v1/orders/{order}/confirm-delivery", headers={"Idempotency-Key": "c-1"})
    assert r.status_code == 200 and r.json()["state"] == "delivered"
    async with app.state.ctx.uow(write=False) as uow:
        actions = list(
            await uow.session.scalars(
                sa.select(AuditEntry.action).where(AuditEntry.target_id == str(order)).order_by(AuditEntry.id)
            )
        )
    assert actions.count("order.ship") == 1 and actions[-1] == "order.deliver"


async def test_shipping_from_the_order_page_and_a_bad_number_is_shown(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    order = await paid_order(app, shop, buyer)
    owner = shop["owner"]
    page = await owner.get(f"/orders/{order}")
    assert 'data-testid="ship-form"' in page.text
    r = await post_form(owner, f"/orders/{order}/shipment", {"carrier": "JT", "tracking_no": "JT123"})
    assert r.status_code == 422 and "JT1234567890123" in r.text  # the example of the right shape
    r = await post_form(owner, f"/orders/{order}/shipment", {"carrier": "JT", "tracking_no": "JT1234567890123"})
    assert r.status_code == 303
    assert await states(app, order) == ["shipped"]


# -- the queue, the deadline and overdue orders ---------------------------------------------------


async def test_overdue_orders_are_listed_for_the_supplier_and_the_organiser(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    late = await paid_order(app, shop, buyer, paid_hours_ago=49)
    fresh = await paid_order(app, shop, buyer, paid_hours_ago=1)
    for member in ("supplier", "organiser"):
        client = shop[member]
        r = await client.get(f"/api/v1/organisations/{shop.slug}/shipping", params={"status": "overdue"})
        assert r.status_code == 200, r.text
        assert [x["order"]["id"] for x in r.json()["items"]] == [late] and r.json()["items"][0]["overdue"] is True
        to_ship = (await client.get(f"/api/v1/organisations/{shop.slug}/shipping")).json()["items"]
        assert [x["order"]["id"] for x in to_ship] == [late, fresh]  # longest-waiting first
        page = await client.get(f"/orgs/{shop.slug}/shipping?status=overdue")
        assert page.status_code == 200 and page.text.count('data-testid="queue-order"') == 1
        assert 'data-testid="overdue"' in page.text
    # Only those who ship get the forms; the organiser reads.
    assert 'data-testid="ship-order"' in (await shop["supplier"].get(f"/orgs/{shop.slug}/shipping")).text
    assert 'data-testid="ship-order"' not in (await shop["organiser"].get(f"/orgs/{shop.slug}/shipping")).text

    # The buyer sees the promise, 48 hours after payment by default.
    mine = (await buyer.client.get(f"/api/v1/orders/{fresh}")).json()
    assert mine["ship_by"] and 'data-testid="ship-by"' in (await buyer.client.get(f"/orders/{fresh}")).text
    assert 'data-overdue="false"' in (await buyer.client.get(f"/orders/{fresh}")).text
    late_page = await buyer.client.get(f"/orders/{late}")
    assert 'data-overdue="true"' in late_page.text and "现已超时" in late_page.text  # zh-CN by default

    # The owner gives 72 hours: orders paid from now on get it; promises made stay.
    r = await shop["owner"].put(f"/api/v1/organisations/{shop.slug}/shipping-policy", json={"ship_within_hours": 72})
    assert r.status_code == 200 and r.json() == {"ship_within_hours": 72, "is_default": False}
    later = await paid_order(app, shop, buyer, paid_hours_ago=49)
    overdue = (await shop["supplier"].get(f"/api/v1/organisations/{shop.slug}/shipping?status=overdue")).json()
    assert [x["order"]["id"] for x in overdue["items"]] == [late] and later != late
    r = await shop["owner"].put(f"/api/v1/organisations/{shop.slug}/shipping-policy", json={"ship_within_hours": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ship_within_hours"


async def test_the_queue_filters_by_session_and_day_and_prints_a_packing_list(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    order = await paid_order(app, shop, buyer)
    today = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date()
    base = f"/api/v1/organisations/{shop.slug}/shipping"
    assert (await shop["supplier"].get(base, params={"paid_on": today.isoformat()})).json()["total"] == 1
    yesterday = (today - timedelta(days=1)).isoformat()
    assert (await shop["supplier"].get(base, params={"paid_on": yesterday})).json()["total"] == 0
    assert (await shop["supplier"].get(base, params={"session_id": 999999})).json()["total"] == 0
    assert (await shop["supplier"].get(base, params={"status": "lost"})).status_code == 422

    slip = await shop["supplier"].get(f"/orgs/{shop.slug}/shipping/packing-list?status=to_ship")
    assert slip.status_code == 200 and slip.text.count('data-testid="packing-slip"') == 1
    assert PHONE in slip.text and "靖宇蓝莓" in slip.text  # the shipper sees the full phone
    read_only = await shop["supervisor"].get(f"/orgs/{shop.slug}/shipping/packing-list?status=to_ship")
    assert read_only.status_code == 200 and MASKED in read_only.text and PHONE not in read_only.text
    assert (await shop["outsider"].get(f"/orgs/{shop.slug}/shipping/packing-list")).status_code == 403
    assert str(order) in slip.text


# -- files: nothing half-applied, every bad row named ---------------------------------------------


def csv_bytes(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in rows).encode("utf-8-sig")


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def upload(client: httpx.AsyncClient, slug: str, name: str, data: bytes) -> httpx.Response:
    return await client.post(f"/api/v1/organisations/{slug}/shipments/upload", files={"file": (name, data)})


def bad_rows(r: httpx.Response) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for err in r.json()["errors"]:
        _file, _rows, row, column = err["field"].split(".")
        out.setdefault(int(row), set()).add(column)
    return out


async def test_a_csv_with_bad_rows_applies_nothing_and_names_every_bad_row(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, make_client: MakeClient
) -> None:
    a, b, c = [await paid_order(app, shop, buyer) for _ in range(3)]
    (unpaid,) = await buy(app, buyer, Wanted(shop.inspected_sku, 1))
    rows = [
        ["订单号", "快递公司", "运单号"],
        [str(a), "SF", SF],  # row 2: fine
        [str(b), "顺丰", "12345"],  # row 3: not an SF number
        [str(c), "UPS", "1Z999"],  # row 4: unknown carrier
        [str(unpaid), "ZTO", "75312345678901"],  # row 5: not paid
        ["99999999", "ZTO", "75312345678902"],  # row 6: no such order here
        [str(a), "ZTO", "75312345678903"],  # row 7: order a again
        ["abc", "ZTO", "75312345678904"],  # row 8: not an order number
    ]
    r = await upload(shop["supplier"], shop.slug, "shipments.csv", csv_bytes(rows))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert bad_rows(r) == {
        3: {"tracking_no"},
        4: {"carrier"},
        5: {"order_id"},
        6: {"order_id"},
        7: {"order_id"},
        8: {"order_id"},
    }
    assert await states(app, a, b, c) == ["paid", "paid", "paid"] and await shipment_count(app) == 0

    # The page lists the same rows, and nothing moved either.
    token = (await shop["supplier"].get("/api/v1/auth/csrf")).json()["csrf_token"]
    page = await shop["supplier"].post(
        f"/orgs/{shop.slug}/shipping/upload",
        data={"csrf_token": token},
        files={"file": ("shipments.csv", csv_bytes(rows))},
    )
    assert page.status_code == 422 and page.text.count("<li>") >= 6 and 'data-testid="row-problems"' in page.text
    assert await shipment_count(app) == 0

    good = [rows[0], rows[1], [str(b), "SF", "SF1234567890124"], [str(c), "极兔", "JT1234567890123"]]
    r = await upload(shop["supplier"], shop.slug, "shipments.csv", csv_bytes(good))
    assert r.status_code == 200, r.text
    assert sorted(r.json()["shipped"]) == sorted([a, b, c])
    assert await states(app, a, b, c) == ["shipped"] * 3


async def test_an_xlsx_with_bad_rows_applies_nothing_then_ships_and_updates_statuses(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    a, b = [await paid_order(app, shop, buyer) for _ in range(2)]
    header = ["order_id", "carrier", "tracking_no", "status"]
    bad = [header, [a, "JD", "JDV001234567890", "in_transit"], [b, "EMS", "EA12345CN", "飞行中"]]
    r = await upload(shop["owner"], shop.slug, "s.xlsx", xlsx_bytes(bad))
    assert r.status_code == 422 and bad_rows(r) == {3: {"tracking_no", "status"}}
    assert await states(app, a, b) == ["paid", "paid"] and await shipment_count(app) == 0

    good = [header, [a, "JD", "JDV001234567890", "in_transit"], [b, "EMS", "EA123456789CN", ""]]
    r = await upload(shop["owner"], shop.slug, "s.xlsx", xlsx_bytes(good))
    assert r.status_code == 200 and sorted(r.json()["shipped"]) == sorted([a, b])
    # The same file later with statuses: shipped orders get them, nothing ships twice.
    later = [header, [a, "JD", "JDV001234567890", "已签收"], [b, "EMS", "EA123456789CN", "运输中"]]
    r = await upload(shop["owner"], shop.slug, "s.xlsx", xlsx_bytes(later))
    assert r.status_code == 200 and r.json()["shipped"] == [] and sorted(r.json()["updated"]) == sorted([a, b])
    # A different number for a shipped order is refused.
    wrong = [header, [a, "JD", "JDV001234567899", ""]]
    assert bad_rows(await upload(shop["owner"], shop.slug, "s.xlsx", xlsx_bytes(wrong))) == {2: {"tracking_no"}}
    async with app.state.ctx.uow(write=False) as uow:
        statuses = {oid: st for oid, st in await uow.session.execute(sa.select(Shipment.order_id, Shipment.status))}
        events = await uow.session.scalar(sa.select(sa.func.count(TrackingEvent.id)))
    assert (statuses[a].value, statuses[b].value) == ("delivered", "in_transit")
    assert events == 5  # a: shipped, in_transit, delivered; b: shipped, in_transit


async def test_unreadable_files_are_refused_with_the_reason(app: FastAPI, shop: LiveOrg) -> None:
    supplier = shop["supplier"]
    r = await upload(supplier, shop.slug, "s.xlsx", b"not a workbook")
    assert r.status_code == 422 and r.json()["code"] == "bad_shipment_file"
    r = await upload(supplier, shop.slug, "s.csv", csv_bytes([["order", "whatever"], ["1", "x"]]))
    assert r.status_code == 422 and "carrier" in r.json()["detail"]
    assert (await upload(supplier, shop.slug, "s.pdf", b"%PDF")).status_code == 422


# -- automatic confirmation -----------------------------------------------------------------------


async def test_deliveries_confirm_themselves_after_the_configured_days(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    old, recent, confirmed = [await paid_order(app, shop, buyer) for _ in range(3)]
    for order in (old, recent, confirmed):
        assert (await ship(shop["supplier"], order, "ZTO", f"7531234567{order:04d}")).status_code == 201
    async with app.state.ctx.uow() as uow:
        now = utcnow()
        await uow.session.execute(
            sa.update(Order).where(Order.id == old).values(shipped_at=now - timedelta(days=10, minutes=1))
        )
        await uow.session.execute(sa.update(Order).where(Order.id == recent).values(shipped_at=now - timedelta(days=9)))
        await uow.session.execute(
            sa.update(Order).where(Order.id == confirmed).values(shipped_at=now - timedelta(days=11))
        )
    assert (await buyer.client.post(f"/api/v1/orders/{confirmed}/confirm-delivery")).status_code == 200

    days = app.state.ctx.settings.order_auto_confirm_days
    assert days == 10
    assert await auto_confirm_due(app.state.ctx.uow, days) == 1
    assert await states(app, old, recent, confirmed) == ["delivered", "shipped", "delivered"]
    assert await auto_confirm_due(app.state.ctx.uow, days) == 0  # nothing twice
    async with app.state.ctx.uow(write=False) as uow:
        entry = await uow.session.scalar(
            sa.select(AuditEntry).where(AuditEntry.target_id == str(old), AuditEntry.action == "order.deliver")
        )
    assert entry is not None and entry.actor_id is None


# -- who may NOT ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "status"),
    [("supplier", 201), ("owner", 201), ("organiser", 403), ("supervisor", 403), ("host", 403), ("outsider", 403)],
)
async def test_only_the_organisations_suppliers_and_owners_ship(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, member: str, status: int
) -> None:
    order = await paid_order(app, shop, buyer)
    r = await ship(shop[member], order)
    assert r.status_code == status, r.text
    rows = [["order_id", "carrier", "tracking_no"], [str(order), "SF", SF]]
    uploaded = await upload(shop[member], shop.slug, "s.csv", csv_bytes(rows))
    if status == 201:  # the same parcel again: nothing new
        assert uploaded.status_code == 200 and uploaded.json() == {"shipped": [], "updated": []}
    else:
        assert uploaded.status_code == 403
    if status == 403:
        assert await states(app, order) == ["paid"] and await shipment_count(app) == 0
        r = await shop[member].put(f"/api/v1/organisations/{shop.slug}/shipping-policy", json={"ship_within_hours": 24})
        assert r.status_code == 403


async def test_the_buyer_may_not_ship_nor_anyone_else_confirm(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, make_client: MakeClient
) -> None:
    order = await paid_order(app, shop, buyer)
    assert (await ship(buyer.client, order)).status_code == 403
    assert (
        await buyer.client.post(f"/api/v1/orders/{order}/tracking", json={"status": "delivered"})
    ).status_code == 403
    assert (await buyer.client.get(f"/api/v1/organisations/{shop.slug}/shipping")).status_code == 403
    assert (await ship(shop["supplier"], order)).status_code == 201
    other = await make_buyer(make_client, "other")
    assert (await other.client.post(f"/api/v1/orders/{order}/confirm-delivery")).status_code == 404
    for member in ("supplier", "owner", "organiser"):
        assert (await shop[member].post(f"/api/v1/orders/{order}/confirm-delivery")).status_code == 403
    assert (
        await shop["supplier"].put(f"/api/v1/organisations/{shop.slug}/shipping-policy", json={"ship_within_hours": 24})
    ).status_code == 403
    assert (
        await shop["organiser"].put(
            f"/api/v1/organisations/{shop.slug}/shipping-policy", json={"ship_within_hours": 24}
        )
    ).status_code == 403
    assert await states(app, order) == ["shipped"]
    assert (
        await make_client().post(f"/api/v1/orders/{order}/shipment", json={"carrier": "SF", "tracking_no": SF})
    ).status_code == 401


async def test_a_page_of_the_shipping_queue_costs_the_same_queries_however_many_orders(
    app: FastAPI, shop: LiveOrg, buyer: Buyer, queries: QueryCounter
) -> None:
    async def queries_for(path: str) -> int:
        async with queries.counting() as statements:
            r = await shop["supplier"].get(path)
        assert r.status_code == 200, r.text
        return len(statements)

    async def add_orders() -> None:
        await paid_order(app, shop, buyer)
        shipped = await paid_order(app, shop, buyer)
        assert (await ship(shop["supplier"], shipped, "ZTO", f"7531234567{shipped:04d}")).status_code == 201

    paths = [f"/api/v1/organisations/{shop.slug}/shipping?status=all", f"/orgs/{shop.slug}/shipping?status=all"]
    await add_orders()
    one = [await queries_for(p) for p in paths]
    for _ in range(3):
        await add_orders()
    assert [await queries_for(p) for p in paths] == one


async def test_the_owner_sets_the_deadline_on_the_shipping_page(app: FastAPI, shop: LiveOrg) -> None:
    page = await shop["owner"].get(f"/orgs/{shop.slug}/shipping")
    assert 'data-testid="save-deadline"' in page.text and 'data-testid="upload-shipments"' in page.text
    assert 'data-testid="save-deadline"' not in (await shop["supplier"].get(f"/orgs/{shop.slug}/shipping")).text
    r = await post_form(shop["owner"], f"/orgs/{shop.slug}/shipping/policy", {"ship_within_hours": "abc"})
    assert r.status_code == 422 and 'data-testid="error-ship_within_hours"' in r.text
    r = await post_form(shop["owner"], f"/orgs/{shop.slug}/shipping/policy", {"ship_within_hours": "24"})
    assert r.status_code == 303
    policy = (await shop["organiser"].get(f"/api/v1/organisations/{shop.slug}/shipping-policy")).json()
    assert policy == {"ship_within_hours": 24, "is_default": False}
    r = await post_form(shop["supplier"], f"/orgs/{shop.slug}/shipping/policy", {"ship_within_hours": "12"})
    assert r.status_code == 403


class ScriptedTracker:
    """A carrier API's stand-in: answers each poll with the updates it was given, once."""

    name = "scripted"

    def __init__(self, updates: list[TrackingUpdate]) -> None:
        self.updates = updates
        self.asked: list[tuple[str, str]] = []

    async def poll(self, parcels: Sequence[tuple[str, str]]) -> list[TrackingUpdate]:
        self.asked.extend(parcels)
        out, self.updates = self.updates, []
        return out


async def test_a_trackers_news_is_recorded_once_for_the_parcel_it_names(
    app: FastAPI, shop: LiveOrg, buyer: Buyer
) -> None:
    order = await paid_order(app, shop, buyer)
    assert (await ship(shop["supplier"], order)).status_code == 201
    now = utcnow()
    tracker = ScriptedTracker(
        [
            TrackingUpdate("SF", SF, TrackingStatus.OUT_FOR_DELIVERY, now, "白山派送点"),
            TrackingUpdate("SF", "SF9999999999999", TrackingStatus.DELIVERED, now),  # nobody's parcel
        ]
    )
    assert await poll_tracker(app.state.ctx.uow, tracker) == 1
    assert tracker.asked == [("SF", SF)]
    assert await poll_tracker(app.state.ctx.uow, tracker) == 0
    detail = (await buyer.client.get(f"/api/v1/orders/{order}/shipment")).json()["shipment"]
    assert detail["status"] == "out_for_delivery" and detail["events"][0]["note"] == "白山派送点"
    assert await states(app, order) == ["shipped"]  # the carrier's word does not confirm for the buyer
