"""The post-show report (analytics/postshow.py, GET /api/v1/sessions/<id>/report, /live/<id>/report
and its downloads): every block's figures equal the sums of the orders, reviews, requests and alerts
beneath, also after a refund lands late; the XLSX totals rows equal the report's totals; who may
not read it."""

from __future__ import annotations

import io
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from openpyxl import load_workbook

from fieldcast.accounts.models import ApiToken
from fieldcast.accounts.security import hash_token
from fieldcast.aftersales.models import RefundKind, RefundReason, RefundRequest, RefundRequestState
from fieldcast.analytics.postshow import BUCKET_S, percentile_hours
from fieldcast.analytics.rollups import ShowFilter, rollup
from fieldcast.catalog.models import Sku
from fieldcast.clips.models import Clip, ClipOrder, ClipState, ClipView
from fieldcast.commerce.models import Order, OrderLine, RefundStatus, Shipment, TrackingStatus
from fieldcast.db.base import utcnow
from fieldcast.integrity.models import AlertState, IntegrityAlert, Severity, SubjectKind
from fieldcast.live.models import LiveSession, ProductMark
from fieldcast.reviews.models import Review, ReviewTag, ReviewTagMark
from tests.analytics.test_rollup import T0, run
from tests.integrity.world import World, place, world

ON_BOTH_BACKENDS = True

# (minute into the show, total fen, paid, region code, hours to ship, hours to deliver, ship within h)
ORDERS: list[tuple[int, int, bool, str, float | None, float | None, int]] = [
    (0, 3990, True, "420506", 10.0, 50.0, 48),  # 湖北
    (0, 2990, False, "420506", None, None, 48),  # never paid
    (1, 6990, True, "110105", 60.0, None, 48),  # 北京, shipped late, on the way
    (1, 9900, True, "440305", 5.5, 30.0, 48),  # 广东
    (3, 7900, True, "440106", None, None, 48),  # 广东, not shipped (the promise is long past)
    (3, 3900, True, "220622", 20.0, 70.0, 24),  # 吉林
    (4, 12900, True, "650102", None, None, 100_000),  # 新疆, not shipped, still within the promise
]

REVIEWS: list[tuple[int, int, list[tuple[ReviewTag, bool]], str, bool]] = [
    # (order index, rating, tags, text, removed by the platform)
    (0, 2, [(ReviewTag.FRESHNESS, False), (ReviewTag.PACKAGING_SIZE, False)], "蓝莓不新鲜，包装太大了", False),
    (3, 3, [(ReviewTag.DELIVERY_SPEED, False), (ReviewTag.TASTE, True)], "很甜，但是快递太慢", False),
    (5, 5, [(ReviewTag.TASTE, True), (ReviewTag.FRESHNESS, True)], "", False),
    (2, 1, [(ReviewTag.FRESHNESS, False)], "骂人的话", True),  # removed: not counted, not quoted
]


@dataclass
class Show:
    w: World
    order_ids: list[int]
    sku_ids: list[int]


async def seeded(app: FastAPI) -> Show:
    w = await world(app)
    now = utcnow()
    ids: list[int] = []
    async with app.state.ctx.uow() as uow:
        s = uow.session
        skus = [await s.get(Sku, sku_id) for sku_id in w.shop.skus]
        for n, (minute, total, paid, region, ship_h, deliver_h, within_h) in enumerate(ORDERS):
            order_id = await place(uow, w, w.shop.buyers[n % len(w.shop.buyers)], total, paid=paid)
            order = await s.get(Order, order_id)
            assert order is not None
            order.created_at = T0 + timedelta(minutes=minute, seconds=5 * n)
            order.region_code = region
            if paid:
                order.paid_at = now - timedelta(hours=200)
                order.ship_by = order.paid_at + timedelta(hours=within_h)
                if ship_h is not None:
                    order.shipped_at = order.paid_at + timedelta(hours=ship_h)
                    s.add(
                        Shipment(
                            order_id=order_id,
                            organisation_id=w.shop.org_id,
                            carrier="SF",
                            tracking_no=f"SF{order_id:010d}",
                            shipped_at=order.shipped_at,
                            status=TrackingStatus.DELIVERED if deliver_h else TrackingStatus.IN_TRANSIT,
                            status_at=order.paid_at + timedelta(hours=deliver_h or ship_h),
                        )
                    )
            sku = skus[n % 2]
            assert sku is not None
            s.add(
                OrderLine(
                    order_id=order_id,
                    sku_id=sku.id,
                    product_id=sku.product_id,
                    title="靖宇蓝莓",
                    spec_label=sku.spec_label,
                    unit_price_fen=total,
                    quantity=1,
                    line_total_fen=total,
                )
            )
            ids.append(order_id)
        await s.flush()
        for index, rating, tags, text, removed in REVIEWS:
            line = await s.scalar(sa.select(OrderLine).where(OrderLine.order_id == ids[index]))
            order = await s.get(Order, ids[index])
            assert line is not None and order is not None
            review = Review(
                order_line_id=line.id,
                order_id=order.id,
                product_id=line.product_id,
                organisation_id=w.shop.org_id,
                buyer_id=order.buyer_id,
                spec_label=line.spec_label,
                rating=rating,
                body=text,
                removed_at=now if removed else None,
            )
            s.add(review)
            await s.flush()
            for tag, positive in tags:
                s.add(ReviewTagMark(review_id=review.id, product_id=line.product_id, tag=tag, positive=positive))
        for index, reason, note, state in (
            (3, RefundReason.TOO_SLOW, "等了十天才到", RefundRequestState.REJECTED),
            (0, RefundReason.SPOILED, "到货一半烂了", RefundRequestState.REFUNDED),
        ):
            order = await s.get(Order, ids[index])
            assert order is not None
            s.add(
                RefundRequest(
                    order_id=order.id,
                    buyer_id=order.buyer_id,
                    organisation_id=order.organisation_id,
                    supplier_id=order.supplier_id,
                    session_id=order.session_id,
                    kind=RefundKind.REFUND_ONLY,
                    reason=reason,
                    note=note,
                    amount_fen=order.total_fen // 2,
                    state=state,
                    order_state_at_request="delivered",
                )
            )
        for at_min, sku_id in ((0, w.shop.skus[0]), (2, w.shop.skus[1])):
            at = T0 + timedelta(minutes=at_min)
            s.add(ProductMark(session_id=w.session_id, sku_id=sku_id, marked_at=at, offset_s=at_min * 60.0))
        s.add(
            IntegrityAlert(
                rule="round_quota",
                severity=Severity.MEDIUM,
                subject_kind=SubjectKind.ORDER,
                subject_id=ids[3],
                session_id=w.session_id,
                organisation_id=w.shop.org_id,
                state=AlertState.OPEN,
            )
        )
        live = await s.get(LiveSession, w.session_id)
        assert live is not None
        live.started_at, live.ended_at = T0, T0 + timedelta(minutes=5)
    await run(app)
    return Show(w, ids, w.shop.skus)


async def report(app: FastAPI, show: Show, who: str = "owner") -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(f"/api/v1/sessions/{show.w.session_id}/report", headers=show.w.headers[who])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def nearest_rank_hours(values_h: list[float], p: float) -> float:
    ordered = sorted(values_h)
    return ordered[max(1, math.ceil(p * len(ordered))) - 1]


async def beneath(app: FastAPI, show: Show) -> dict[str, Any]:
    """What each block should say, counted here in Python from the rows themselves."""
    async with app.state.ctx.uow(write=False) as uow:
        s = uow.session
        orders = list((await s.scalars(sa.select(Order).where(Order.session_id == show.w.session_id))).all())
        lines = list((await s.scalars(sa.select(OrderLine).where(OrderLine.order_id.in_(show.order_ids)))).all())
        shipments = {
            x.order_id: x for x in (await s.scalars(sa.select(Shipment).where(Shipment.order_id.in_(show.order_ids))))
        }
        reviews = list((await s.scalars(sa.select(Review).where(Review.order_id.in_(show.order_ids)))).all())
        marks = list((await s.scalars(sa.select(ReviewTagMark))).all())
        requests = list((await s.scalars(sa.select(RefundRequest))).all())
    paid = [o for o in orders if o.paid_at is not None]
    provinces: dict[str, dict[str, Any]] = {}
    for o in paid:
        p = provinces.setdefault(o.region_code[:2] + "0000", {"buyers": set(), "orders": 0, "paid_fen": 0})
        p["buyers"].add(o.buyer_id)
        p["orders"] += 1
        p["paid_fen"] += o.total_fen
    visible = {r.id for r in reviews if r.removed_at is None}
    tags: dict[str, list[int]] = {}
    for m in marks:
        if m.review_id in visible:
            tags.setdefault(m.tag.value, [0, 0])[0 if m.positive else 1] += 1
    units: dict[int, int] = {}
    paid_ids = {o.id for o in paid}
    for line in lines:
        if line.order_id in paid_ids:
            units[line.sku_id] = units.get(line.sku_id, 0) + line.quantity
    now = utcnow()
    shipped = [o for o in paid if o.shipped_at is not None]
    delivered_at = {
        o.id: (
            shipments[o.id].status_at if o.id in shipments and shipments[o.id].status == "delivered" else o.delivered_at
        )
        for o in paid
    }
    return {
        "orders": len(orders),
        "paid_orders": len(paid),
        "gmv_fen": sum(o.total_fen for o in orders),
        "paid_fen": sum(o.total_fen for o in paid),
        "refunded_fen": sum(o.refunded_fen for o in paid),
        "buyers": len({o.buyer_id for o in paid}),
        "units": units,
        "provinces": {k: (len(v["buyers"]), v["orders"], v["paid_fen"]) for k, v in provinces.items()},
        "tags": {k: tuple(v) for k, v in tags.items()},
        "reasons": {r.reason.value: sum(1 for x in requests if x.reason == r.reason) for r in requests},
        "on_time": sum(1 for o in shipped if o.ship_by is not None and o.shipped_at <= o.ship_by),  # type: ignore[operator]
        "late": sum(1 for o in shipped if o.ship_by is not None and o.shipped_at > o.ship_by),  # type: ignore[operator]
        "overdue": sum(
            1
            for o in paid
            if o.shipped_at is None and o.refund_status != RefundStatus.REFUNDED and o.ship_by and o.ship_by < now
        ),
        "due": sum(
            1
            for o in paid
            if o.shipped_at is None and o.refund_status != RefundStatus.REFUNDED and o.ship_by and o.ship_by >= now
        ),
        "on_the_way": sum(1 for o in shipped if delivered_at[o.id] is None),
        "ship_h": [(o.shipped_at - o.paid_at).total_seconds() / 3600 for o in shipped],  # type: ignore[operator]
        "deliver_h": [
            (d - o.paid_at).total_seconds() / 3600  # type: ignore[operator]
            for o in paid
            if (d := delivered_at[o.id]) is not None
        ],
    }


def check(body: dict[str, Any], want: dict[str, Any]) -> None:
    t = body["totals"]
    assert (t["orders"], t["paid_orders"], t["gmv_fen"], t["paid_fen"], t["refunded_fen"]) == (
        want["orders"],
        want["paid_orders"],
        want["gmv_fen"],
        want["paid_fen"],
        want["refunded_fen"],
    )
    assert t["buyers"] == want["buyers"]
    for name in ("orders", "paid_fen", "refunded_fen", "gmv_fen"):
        assert sum(m[name] for m in body["minutes"]) == t[name], name
    gmv = body["integrity"]["gmv"]
    assert (gmv["raw_fen"], gmv["paid_fen"], gmv["refunded_fen"]) == (t["gmv_fen"], t["paid_fen"], t["refunded_fen"])
    assert {p["sku_id"]: p["units"] for p in body["products"] if p["units"]} == want["units"]
    assert sum(p["paid_fen"] for p in body["products"]) == want["paid_fen"]
    assert sum(h["paid_fen"] for h in body["hosts"]) == want["paid_fen"]
    assert {p["code"]: (p["buyers"], p["orders"], p["paid_fen"]) for p in body["provinces"]} == want["provinces"]
    assert sum(p["paid_fen"] for p in body["provinces"]) == want["paid_fen"]
    assert {g["tag"]: (g["good"], g["bad"]) for g in body["review_tags"]} == want["tags"]
    assert {g["reason"]: g["requests"] for g in body["refund_reasons"]} == want["reasons"]
    d = body["deliveries"]
    assert d["paid"] == want["paid_orders"]
    assert (d["shipped_on_time"], d["shipped_late"], d["unshipped_overdue"], d["unshipped_due"], d["on_the_way"]) == (
        want["on_time"],
        want["late"],
        want["overdue"],
        want["due"],
        want["on_the_way"],
    )
    # Durations are counted per tenth of an hour: the percentile is the exact one within half of it.
    for key, values in (("ship", want["ship_h"]), ("deliver", want["deliver_h"])):
        for p in (50, 90):
            assert abs(d[f"{key}_hours_p{p}"] - nearest_rank_hours(values, p / 100)) <= BUCKET_S / 3600 / 2 + 1e-9, (
                key,
                p,
            )


async def test_every_block_is_the_sum_of_the_rows_beneath_also_after_a_late_refund(app: FastAPI) -> None:
    show = await seeded(app)
    body = await report(app, show)
    check(body, await beneath(app, show))
    # The blocks as a person reads them: the complaints come out as groups, with what was written.
    tags = {g["tag"]: g for g in body["review_tags"]}
    assert tags["freshness"]["bad"] == 1 and tags["freshness"]["good"] == 1  # the removed review is not counted
    assert tags["packaging_size"]["bad"] == 1 and tags["delivery_speed"]["bad"] == 1
    assert [q["text"] for q in tags["packaging_size"]["quotes"]] == ["蓝莓不新鲜，包装太大了"]
    assert all("骂人" not in q["text"] for g in body["review_tags"] for q in g["quotes"])
    assert body["review_tags"][0]["bad"] >= body["review_tags"][-1]["bad"]  # most complained-of first
    reasons = {g["reason"]: g for g in body["refund_reasons"]}
    assert reasons["too_slow"]["quotes"][0]["text"] == "等了十天才到"
    assert reasons["spoiled_on_arrival"]["refunded_fen"] == ORDERS[0][1] // 2
    assert [m["product_title"] for m in body["marks"]] == ["靖宇蓝莓", "靖宇蓝莓"]
    assert body["marks"][0]["until"] == body["marks"][1]["at"]
    assert {p["name"] for p in body["provinces"]} >= {"湖北省", "广东省", "北京市"}
    assert body["integrity"]["alerts"] == [
        {"rule": "round_quota", "severity": "medium", "open": 1, "acknowledged": 0, "false_alarm": 0}
    ]
    assert body["integrity"]["gmv"]["flagged_fen"] == ORDERS[3][1]

    # A week later the 广东 order of minute 1 is refunded in full: the report moves with it.
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(Order)
            .where(Order.id == show.order_ids[3])
            .values(refunded_fen=ORDERS[3][1], refund_status=RefundStatus.REFUNDED, updated_at=utcnow())
        )
    await run(app)
    after = await report(app, show)
    check(after, await beneath(app, show))
    assert after["totals"]["refunded_fen"] == ORDERS[3][1]
    minute_1 = [m for m in after["minutes"] if m["minute"].startswith("2026-11-20T12:01")]
    assert minute_1[0]["refunded_fen"] == ORDERS[3][1]
    assert after["integrity"]["gmv"]["verified_fen"] == after["totals"]["paid_fen"] - ORDERS[3][1]


async def test_the_xlsx_export_has_a_sheet_per_table_whose_totals_rows_equal_the_report(app: FastAPI) -> None:
    show = await seeded(app)
    body = await report(app, show)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        url = f"/live/{show.w.session_id}/report"
        xlsx = await client.get(f"{url}.xlsx", headers=show.w.headers["owner"])
        csv = await client.get(f"{url}.csv", headers=show.w.headers["host"])
        assert (await client.get(f"{url}.pdf", headers=show.w.headers["owner"])).status_code == 404
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert len(book.sheetnames) == 8  # sales, minutes, products, hosts, provinces, feedback, deliveries, clips
    sales, minutes, products, hosts, provinces, feedback, deliveries, _clips = (book[n] for n in book.sheetnames)
    t = body["totals"]

    def last(sheet: Any) -> list[Any]:
        return [c.value for c in sheet[sheet.max_row]]

    def yuan(fen: int) -> float:
        return round(fen / 100, 2)

    # Minutes: comments, orders, units, raw, paid orders, paid, refunded, coupon claims.
    assert last(minutes)[5:13] == [
        t["comments"],
        t["orders"],
        t["units"],
        yuan(t["gmv_fen"]),
        t["paid_orders"],
        yuan(t["paid_fen"]),
        yuan(t["refunded_fen"]),
        t["coupon_claims"],
    ]
    assert minutes.cell(row=1, column=1).font.bold and minutes.freeze_panes == "A2"
    assert minutes.cell(row=2, column=9).number_format == "#,##0.00"
    assert last(products)[2:4] == [sum(p["units"] for p in body["products"]), yuan(t["paid_fen"])]
    assert last(hosts)[1:3] == [t["paid_orders"], yuan(t["paid_fen"])]
    assert last(provinces)[2:4] == [t["paid_orders"], yuan(t["paid_fen"])]
    assert last(feedback)[3:5] == [
        sum(g["good"] for g in body["review_tags"]),
        sum(g["bad"] for g in body["review_tags"]) + sum(g["requests"] for g in body["refund_reasons"]),
    ]
    assert last(deliveries)[1] == body["deliveries"]["paid"]
    g = body["integrity"]["gmv"]
    assert [c.value for c in sales[3]][:5] == [
        yuan(g[k]) for k in ("raw_fen", "paid_fen", "refunded_fen", "flagged_fen", "verified_fen")
    ]
    # CSV: the same tables, UTF-8 with a byte-order mark (Excel in China opens it with the Chinese intact).
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert "包装太大了" in csv.content.decode("utf-8-sig")


async def test_clip_views_and_the_orders_from_clips_are_counted_in_the_report_and_its_export(app: FastAPI) -> None:
    """Orders placed from a clip's page (at the shop price, with no show) are the clip's, in the
    clips block and its sheet, and not in the show's own sales."""
    show = await seeded(app)
    before = await report(app, show)
    assert before["clips"]["clips"] == [] and before["clips"]["views"] == 0
    async with app.state.ctx.uow() as uow:
        s = uow.session
        clips = []
        for n in range(2):
            clip = Clip(
                slug=f"clip{n}{secrets.token_hex(3)}",
                session_id=show.w.session_id,
                organisation_id=show.w.shop.org_id,
                sku_id=show.sku_ids[0],
                title=f"片段{n}",
                requested_start_s=10.0 * n,
                requested_end_s=10.0 * n + 20,
                state=ClipState.READY,
            )
            s.add(clip)
            await s.flush()
            clips.append(clip)
        for n, key in enumerate(("u:1", "u:2", "a:x")):  # three viewers of the first, one of the second
            s.add(ClipView(clip_id=clips[0].id, viewer_key=key, window_start=T0, viewed_at=T0))
            if n == 0:
                s.add(ClipView(clip_id=clips[1].id, viewer_key=key, window_start=T0, viewed_at=T0))
        from_clip = []
        for total, paid in ((4990, True), (2500, True), (1000, False)):
            order_id = await place(uow, show.w, show.w.shop.buyers[0], total, paid=paid)
            order = await s.get(Order, order_id)
            assert order is not None
            order.session_id = None  # off the show: the clip's page
            s.add(ClipOrder(clip_id=clips[0].id, order_id=order_id))
            from_clip.append((total, paid))
    after = await report(app, show)
    c = after["clips"]
    assert (c["views"], c["orders"], c["paid_orders"]) == (4, 3, 2)
    assert c["paid_gmv_fen"] == sum(total for total, paid in from_clip if paid) == 7490
    by_title = {x["title"]: x for x in c["clips"]}
    assert (by_title["片段0"]["views"], by_title["片段0"]["orders"]) == (3, 3)
    assert (by_title["片段1"]["views"], by_title["片段1"]["orders"]) == (1, 0)
    # The show's own figures did not move.
    assert after["totals"]["orders"] == before["totals"]["orders"]
    assert after["integrity"]["gmv"] == before["integrity"]["gmv"]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        xlsx = await client.get(f"/live/{show.w.session_id}/report.xlsx", headers=show.w.headers["owner"])
        page = await client.get(f"/live/{show.w.session_id}/report", headers=show.w.headers["owner"])
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[-1]
    assert [cell.value for cell in sheet[sheet.max_row]][2:6] == [4, 3, 2, 74.9]
    assert 'data-testid="report-clips"' in page.text and "片段0" in page.text
    # The roll-up behind the campaign, region and organisation reports counts them per show too.
    async with app.state.ctx.uow(write=False) as uow:
        rolled = await rollup(uow.session, ShowFilter(organisation_ids=frozenset({show.w.shop.org_id})))
    f = rolled.total()
    assert (f.clip_views, f.clip_orders, f.clip_paid_fen) == (4, 3, 7490)
    assert f.orders == before["totals"]["orders"]  # the clip's orders are not the show's


async def test_who_may_not_read_the_report(app: FastAPI) -> None:
    show = await seeded(app)
    other = await world(app)  # another organisation's show and people
    async with app.state.ctx.uow() as uow:
        secret = secrets.token_urlsafe(24)
        uow.session.add(
            ApiToken(
                user_id=show.w.shop.buyers[0],
                name="t",
                token_hash=hash_token(secret),
                prefix=secret[:8],
                last_used_at=utcnow(),
            )
        )
    buyer = {"Authorization": f"Bearer {secret}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        api = f"/api/v1/sessions/{show.w.session_id}/report"
        page = f"/live/{show.w.session_id}/report"
        for who in ("owner", "organiser", "host", "supervisor", "admin"):
            assert (await client.get(api, headers=show.w.headers[who])).status_code == 200, who
            assert (await client.get(page, headers=show.w.headers[who])).status_code == 200, who
        refused = {
            "host of another organisation": other.headers["host"],
            "owner of another organisation": other.headers["owner"],
            "buyer": buyer,
            "supplier": show.w.headers["supplier"],
            "inspector": show.w.headers["inspector"],
        }
        for who, headers in refused.items():
            for url in (api, page, f"{page}.xlsx", f"{page}.csv"):
                response = await client.get(url, headers=headers)
                assert response.status_code == 403, (who, url)
            problem = (await client.get(api, headers=headers)).json()
            assert problem["status"] == 403
        anonymous = await client.get(api)
        assert anonymous.status_code == 401 and anonymous.headers["content-type"].startswith("application/problem+json")
        for url in (page, f"{page}.xlsx"):
            redirect = await client.get(url)
            assert redirect.status_code == 303 and redirect.headers["location"].startswith("/signin?next=")
        unknown = await client.get(
            f"/api/v1/sessions/{show.w.session_id + 999}/report", headers=show.w.headers["admin"]
        )
        assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
        # A host reads the figures but not the alerts; the page links the integrity report only for those who decide.
        as_host = (await client.get(api, headers=show.w.headers["host"])).json()
        assert as_host["integrity"]["alerts"] is None and as_host["integrity"]["report_url"] is None
        host_page = (await client.get(page, headers=show.w.headers["host"])).text
        owner_page = (await client.get(page, headers=show.w.headers["owner"])).text
    assert 'data-testid="report-integrity-link"' not in host_page
    assert 'data-testid="report-integrity-link"' in owner_page
    assert "包装太大了" in owner_page


def test_percentiles_are_read_from_the_minute_histogram() -> None:
    assert percentile_hours({}, 0.5) is None
    # 10 durations in buckets 1 ×5, 60 ×4, 600 ×1: nearest rank 5, 9 and 10.
    histogram = {1: 5, 60: 4, 600: 1}
    assert percentile_hours(histogram, 0.5) == round(1.5 * BUCKET_S / 3600, 2)
    assert percentile_hours(histogram, 0.9) == round(60.5 * BUCKET_S / 3600, 2)
    assert percentile_hours(histogram, 1.0) == round(600.5 * BUCKET_S / 3600, 2)


async def test_a_show_with_nothing_sold_has_an_empty_report_not_an_error(app: FastAPI) -> None:
    w = await world(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        body = (await client.get(f"/api/v1/sessions/{w.session_id}/report", headers=w.headers["owner"])).json()
        page = await client.get(f"/live/{w.session_id}/report?print=1", headers=w.headers["owner"])
        xlsx = await client.get(f"/live/{w.session_id}/report.xlsx", headers=w.headers["owner"])
    assert body["minutes"] == [] and body["provinces"] == [] and body["review_tags"] == []
    assert body["deliveries"]["paid"] == 0 and body["deliveries"]["ship_hours_p50"] is None
    assert page.status_code == 200 and "site-header" not in page.text  # the print view: no site chrome
    assert xlsx.status_code == 200
    totals = load_workbook(io.BytesIO(xlsx.content)).worksheets[1]
    assert [c.value for c in totals[totals.max_row]][5:8] == [0, 0, 0]
