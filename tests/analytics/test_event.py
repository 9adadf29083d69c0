"""An event's figures (analytics/event.py, the big screen's): every total equals the sum of the
orders beneath it, room by room and across the event, and stays so when a refund lands after the
show; buyers are distinct across rooms; the provinces come from the orders' region codes, named
as the purchase ticker names them; a live room's counters lead its minutes; who may read them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import User
from fieldcast.accounts.security import hash_token
from fieldcast.analytics.event import event_report
from fieldcast.analytics.models import EventScreenLink
from fieldcast.analytics.screen_links import make_screen_link, revoke_screen_link
from fieldcast.commerce.checkout import province_of
from fieldcast.commerce.models import Order
from fieldcast.db.audit import AuditEntry
from fieldcast.integrity.models import IntegrityAlert, Severity, SubjectKind
from fieldcast.live.models import LiveEvent, LiveSession, SessionState
from fieldcast.realtime.counters import RoomTotals
from tests.analytics.test_rollup import Counters, line_of, run
from tests.conftest import QueryCounter
from tests.integrity.world import World, place, world

ON_BOTH_BACKENDS = True

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HUBEI, JILIN = "420506", "220622"  # 湖北省宜昌市夷陵区, 吉林省白山市靖宇县


async def two_rooms(app: FastAPI, w: World, slug: str = "fengcheng-618") -> tuple[str, int, int]:
    """An event of the world's organisation with the world's show and a second room beside it."""
    async with app.state.ctx.uow() as uow:
        event = LiveEvent(
            organisation_id=w.shop.org_id,
            slug=slug,
            title="丰城618助农直播",
            starts_at=T0 - timedelta(hours=1),
            ends_at=T0 + timedelta(hours=3),
        )
        uow.session.add(event)
        await uow.session.flush()
        first = await uow.session.get(LiveSession, w.session_id)
        assert first is not None
        first.event_id = event.id
        second = LiveSession(
            organisation_id=w.shop.org_id,
            event_id=event.id,
            title="第二直播间",
            scheduled_at=first.scheduled_at,
            stream_name=f"second{w.session_id}",
            state=SessionState.ENDED,
            started_at=T0,
            ended_at=w.ended_at,
        )
        uow.session.add(second)
        await uow.session.flush()
        return slug, first.id, second.id


async def order(
    app: FastAPI, w: World, session_id: int, buyer: int, lines: list[tuple[int, int, int]], *, paid: bool, region: str
) -> int:
    """An order placed in `session_id` at T0 by the world's `buyer`-th buyer, to `region`, with
    lines (sku, quantity, line total in fen); its total is the sum of its lines."""
    total = sum(fen for _, _, fen in lines)
    async with app.state.ctx.uow() as uow:
        order_id = await place(uow, w, w.shop.buyers[buyer], total, paid=paid)
        units = sum(n for _, n, _ in lines)
        await uow.session.execute(
            sa.update(Order)
            .where(Order.id == order_id)
            .values(
                session_id=session_id, created_at=T0 + timedelta(minutes=order_id % 5), region_code=region, units=units
            )
        )
        for sku, n, fen in lines:
            uow.session.add(line_of(order_id, sku, n, fen))
    return order_id


async def beneath(app: FastAPI, ids: list[int]) -> dict[str, Any]:
    """The event's figures counted here, straight from its orders."""
    async with app.state.ctx.uow(write=False) as uow:
        orders = (await uow.session.scalars(sa.select(Order).where(Order.session_id.in_(ids)))).all()
    paid = [o for o in orders if o.paid_at is not None]
    provinces: dict[str, dict[str, Any]] = {}
    for o in paid:
        p = provinces.setdefault(province_of(o.region_code), {"buyers": set(), "paid_fen": 0})
        p["buyers"].add(o.buyer_id)
        p["paid_fen"] += o.total_fen
    return {
        "orders": len(orders),
        "units": sum(o.units for o in orders),
        "gmv_fen": sum(o.total_fen for o in orders),
        "paid_orders": len(paid),
        "paid_fen": sum(o.total_fen for o in paid),
        "refunded_fen": sum(o.refunded_fen for o in paid),
        "buyers": len({o.buyer_id for o in paid}),
        "provinces": {name: (len(p["buyers"]), p["paid_fen"]) for name, p in provinces.items()},
        "per_room": {sid: sum(o.total_fen for o in paid if o.session_id == sid) for sid in ids},
    }


async def report(app: FastAPI, slug: str, counters: Any = None) -> Any:
    async with app.state.ctx.uow(write=False) as uow:
        event = await uow.session.scalar(sa.select(LiveEvent).where(LiveEvent.slug == slug))
        assert event is not None
        return await event_report(uow.session, event, counters)


def figures(r: Any) -> dict[str, Any]:
    c = r.totals.counted
    return {
        "orders": c["orders"],
        "units": c["units"],
        "gmv_fen": c["gmv_fen"],
        "paid_orders": c["paid_orders"],
        "paid_fen": c["paid_fen"],
        "refunded_fen": c["refunded_fen"],
        "buyers": r.totals.buyers,
        "provinces": {p.name: (p.buyers, p.paid_fen) for p in r.provinces},
        "per_room": {room.session_id: room.gmv.paid_fen for room in r.rooms},
    }


async def test_an_events_figures_are_the_sums_of_its_rooms_orders_and_a_refund_after_the_show_moves_them(
    app: FastAPI,
) -> None:
    w = await world(app)
    slug, first, second = await two_rooms(app, w)
    pool, other = w.shop.skus[0], w.shop.skus[1]
    await order(app, w, first, 0, [(pool, 2, 15800)], paid=True, region=HUBEI)
    late = await order(app, w, first, 1, [(pool, 1, 7900), (other, 1, 2990)], paid=True, region=JILIN)
    await order(app, w, first, 2, [(other, 1, 2990)], paid=False, region=JILIN)  # never paid
    await order(app, w, second, 0, [(other, 3, 8970)], paid=True, region=HUBEI)  # buyer 0 again
    await order(app, w, second, 3, [(pool, 1, 7900)], paid=True, region=JILIN)
    await run(app)

    r = await report(app, slug)
    want = await beneath(app, [first, second])
    assert figures(r) == want
    assert (want["orders"], want["paid_orders"], want["buyers"]) == (5, 4, 3)  # buyer 0 bought in both rooms
    assert want["provinces"] == {"湖北省": (1, 24770), "吉林省": (2, 18790)}
    assert [p.code for p in r.provinces] == ["220000", "420000"]  # the map's feature ids; most buyers first
    # Each room's figures come from its own minutes and orders; the event's are their sums.
    assert sum(room.totals.counted["paid_fen"] for room in r.rooms) == r.totals.counted["paid_fen"]
    assert [room.session_id for room in r.leaderboard] == [first, second]  # 266.90 before 168.70
    # Verified GMV stands beside raw: nothing refunded or under alert yet.
    assert (r.gmv.raw_fen, r.gmv.paid_fen, r.gmv.verified_fen) == (want["gmv_fen"], want["paid_fen"], want["paid_fen"])
    # Products across the event, by paid money: the pool SKU (4 units, 316.00) before the other (4, 119.60).
    assert [(p.sku_id, p.units, p.paid_fen) for p in r.products] == [(pool, 4, 31600), (other, 4, 11960)]

    # A week after the show the 108.90 order is refunded in full, and an alert stands on the
    # second room: the next pass moves the figures; they are still the sums beneath.
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(Order).where(Order.id == late).values(refunded_fen=10890, updated_at=datetime.now(UTC))
        )
        uow.session.add(
            IntegrityAlert(
                rule="quota_pattern",
                severity=Severity.HIGH,
                subject_kind=SubjectKind.SESSION,
                subject_id=second,
                session_id=second,
                organisation_id=w.shop.org_id,
            )
        )
    await run(app)
    after = await report(app, slug)
    want = await beneath(app, [first, second])
    assert figures(after) == want
    assert after.totals.counted["refunded_fen"] == 10890
    assert after.gmv.refunded_fen == 10890 and after.gmv.flagged_fen == 8970 + 7900
    assert after.gmv.verified_fen == want["paid_fen"] - 10890 - (8970 + 7900)
    by_room = {room.session_id: room for room in after.rooms}
    assert by_room[second].gmv.verified_fen == 0 and by_room[first].gmv.verified_fen == 15800
    # Ranked by paid GMV: a refund does not reorder the board, it shows beside it.
    assert [room.session_id for room in after.leaderboard] == [first, second]


async def test_a_live_rooms_counters_lead_its_minutes_and_unreadable_counters_show_no_viewers(app: FastAPI) -> None:
    w = await world(app)
    slug, first, _ = await two_rooms(app, w, "two-live")
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(sa.update(LiveSession).where(LiveSession.id == first).values(state=SessionState.LIVE))
    await run(app, Counters(RoomTotals(likes=300, viewers=12, unique_viewers=40, views=55)))
    r = await report(app, slug, Counters(RoomTotals(likes=320, viewers=9, unique_viewers=41, views=60)))
    room = next(x for x in r.rooms if x.session_id == first)
    assert room.viewers == 9 and r.viewers == 9  # on now: the counters' (the ended room has none)
    assert (room.totals.peak_viewers, room.totals.unique_viewers, room.totals.likes) == (12, 41, 320)
    assert r.totals.likes == 320 and r.totals.unique_viewers == 41

    class Broken:
        async def totals(self, room_id: int) -> RoomTotals:
            raise ConnectionError("redis away")

    unread = await report(app, slug, Broken())
    assert unread.viewers is None  # "—", never an estimate
    assert unread.totals.likes == 300  # the minutes stand


async def test_the_event_metrics_api_answers_the_event_organisations_readers_only(app: FastAPI) -> None:
    w = await world(app)
    slug, first, _ = await two_rooms(app, w)
    await order(app, w, first, 0, [(w.shop.skus[0], 1, 7900)], paid=True, region=HUBEI)
    elsewhere = await world(app)  # another organisation, with its own host
    await run(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        url = f"/api/v1/events/{slug}/metrics"
        for who in ("owner", "organiser", "host", "supervisor", "admin"):
            response = await client.get(url, headers=w.headers[who])
            assert response.status_code == 200, (who, response.text)
        body = response.json()
        for who in ("supplier", "inspector", "outsider"):
            assert (await client.get(url, headers=w.headers[who])).status_code == 403, who
        refused = await client.get(url, headers=elsewhere.headers["host"])
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(url)).status_code == 401
        missing = await client.get("/api/v1/events/no-such-event/metrics", headers=w.headers["admin"])
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        huge = await client.get(f"/api/v1/events/{'9' * 30}/metrics", headers=w.headers["admin"])
        assert huge.status_code == 404  # an id no column holds: not found, never a 500
    assert body["event"]["slug"] == slug
    assert body["totals"]["rooms"] == 2 and body["totals"]["paid_fen"] == 7900 and body["totals"]["buyers"] == 1
    assert body["gmv"]["raw_fen"] == 7900 and body["gmv"]["verified_fen"] == 7900
    assert body["leaderboard"][0]["session_id"] == first
    assert body["provinces"] == [{"code": "420000", "name": "湖北省", "buyers": 1, "paid_orders": 1, "paid_fen": 7900}]
    # Province only: nothing on the buyer reaches the screen.
    assert "王小明" not in str(body) and "江边路" not in str(body)


async def test_the_big_screen_opens_for_the_readers_only_and_the_event_page_links_it_for_them(app: FastAPI) -> None:
    w = await world(app)
    slug, first, _ = await two_rooms(app, w)
    await order(app, w, first, 0, [(w.shop.skus[0], 1, 7900)], paid=True, region=HUBEI)
    elsewhere = await world(app)
    await run(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        url = f"/events/{slug}/screen"
        page = await client.get(url, headers=w.headers["organiser"])
        assert page.status_code == 200
        html = page.text
        assert 'data-testid="screen-title">丰城618助农直播<' in html
        assert html.count('data-testid="screen-room"') == 2 + 1  # two rooms, and the template's card
        assert 'data-testid="screen-raw">¥79.00<' in html and 'data-testid="screen-verified">¥79.00<' in html
        assert "湖北省" in html and "王小明" not in html
        assert "site-nav" not in html  # a projector page: no site header
        for who in ("supplier", "outsider"):
            assert (await client.get(url, headers=w.headers[who])).status_code == 403, who
        assert (await client.get(url, headers=elsewhere.headers["host"])).status_code == 403
        anonymous = await client.get(url)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == f"/signin?next={url}"
        assert (await client.get("/events/no-such-event/screen", headers=w.headers["admin"])).status_code == 404

        link = 'data-testid="event-screen-link"'
        assert link in (await client.get(f"/events/{slug}", headers=w.headers["host"])).text
        assert link in (await client.get(f"/events/{slug}", headers=w.headers["admin"])).text
        assert link not in (await client.get(f"/events/{slug}", headers=w.headers["outsider"])).text
        assert link not in (await client.get(f"/events/{slug}")).text


async def test_a_projector_link_opens_the_screen_without_signing_in_until_it_is_rotated_or_revoked(
    app: FastAPI,
) -> None:
    w = await world(app)
    slug, first, _ = await two_rooms(app, w)
    await order(app, w, first, 0, [(w.shop.skus[0], 1, 7900)], paid=True, region=HUBEI)
    await run(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as organiser:
        csrf = (await organiser.get("/api/v1/auth/csrf")).json()["csrf_token"]
        made = await organiser.post(
            f"/events/{slug}/screen/link", data={"csrf_token": csrf}, headers=w.headers["organiser"]
        )
        assert made.status_code == 200, made.text
        url = re.search(r'value="http://test(/screen/[^"]+)"[^>]*data-testid="screen-link-url"', made.text)
        assert url is not None
        link = url.group(1)
        # A host may read the figures but not hand out links; nobody signed out may.
        for who in ("host", "supervisor"):
            refused = await organiser.post(
                f"/events/{slug}/screen/link", data={"csrf_token": csrf}, headers=w.headers[who]
            )
            assert refused.status_code == 403, who
    async with app.state.ctx.uow(write=False) as uow:
        stored = (await uow.session.scalars(sa.select(EventScreenLink))).all()
    assert [x.token_hash for x in stored] == [hash_token(link.removeprefix("/screen/"))]  # only its hash

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as projector:
        assert (await projector.get(f"/events/{slug}/screen")).status_code == 303  # not yet: sign in
        opened = await projector.get(link)
        assert opened.status_code == 303 and opened.headers["location"] == f"/events/{slug}/screen"
        assert (await projector.get(f"/events/{slug}/screen")).status_code == 200
        assert (await projector.get(f"/api/v1/events/{slug}/metrics")).json()["totals"]["paid_fen"] == 7900
        # The grant is for this event only.
        async with app.state.ctx.uow() as uow:
            uow.session.add(
                LiveEvent(
                    organisation_id=w.shop.org_id,
                    slug="other-event",
                    title="另一场",
                    starts_at=T0,
                    ends_at=T0 + timedelta(hours=1),
                )
            )
        assert (await projector.get("/api/v1/events/other-event/metrics")).status_code == 401

        # The organiser makes a new link: the old one stops, on the screen that opened it too.
        async with app.state.ctx.uow() as uow:
            event = await uow.session.scalar(sa.select(LiveEvent).where(LiveEvent.slug == slug))
            assert event is not None
            organiser_user = await uow.session.get(User, w.people["organiser"])
            fresh = await make_screen_link(uow, organiser_user, event)
        assert (await projector.get(f"/api/v1/events/{slug}/metrics")).status_code == 401
        assert (await projector.get(f"/events/{slug}/screen")).status_code == 303
        assert (await projector.get(link)).status_code == 404
        assert (await projector.get(f"/screen/{fresh}")).status_code == 303
        assert (await projector.get(f"/api/v1/events/{slug}/metrics")).status_code == 200

        # Revoked: the screen stops at its next refresh.
        async with app.state.ctx.uow() as uow:
            event = await uow.session.scalar(sa.select(LiveEvent).where(LiveEvent.slug == slug))
            owner = await uow.session.get(User, w.people["owner"])
            assert event is not None and await revoke_screen_link(uow, owner, event)
        assert (await projector.get(f"/api/v1/events/{slug}/metrics")).status_code == 401
        assert (await projector.get(f"/screen/{fresh}")).status_code == 404
    async with app.state.ctx.uow(write=False) as uow:
        actions = (
            await uow.session.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.action.like("event.screen_link.%"))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert actions == ["event.screen_link.make", "event.screen_link.rotate", "event.screen_link.revoke"]


async def test_an_events_figures_cost_the_same_queries_however_many_rooms_it_has(
    app: FastAPI, queries: QueryCounter
) -> None:
    """The screen reads the figures every 10 s: no query per room (or per minute, or per order)."""
    w = await world(app)
    slug, first, second = await two_rooms(app, w)
    for room in (first, second):
        await order(app, w, room, 0, [(w.shop.skus[0], 1, 7900)], paid=True, region=HUBEI)
    await run(app)

    async def cost() -> int:
        async with app.state.ctx.uow(write=False) as uow:
            event = await uow.session.scalar(sa.select(LiveEvent).where(LiveEvent.slug == slug))
            assert event is not None
            async with queries.counting() as statements:
                report = await event_report(uow.session, event, Counters(RoomTotals(viewers=1)))
            assert len(report.rooms) >= 2
            return len(statements)

    two = await cost()
    async with app.state.ctx.uow() as uow:
        event_id = await uow.session.scalar(sa.select(LiveEvent.id).where(LiveEvent.slug == slug))
        for n in range(4):
            uow.session.add(
                LiveSession(
                    organisation_id=w.shop.org_id,
                    event_id=event_id,
                    title=f"更多直播间{n}",
                    scheduled_at=T0,
                    stream_name=f"more{n}-{w.session_id}",
                    state=SessionState.LIVE,
                )
            )
    for _ in range(3):
        await order(app, w, second, 1, [(w.shop.skus[1], 2, 5980)], paid=True, region=JILIN)
    await run(app)
    assert await cost() == two
    assert two <= 10, two
