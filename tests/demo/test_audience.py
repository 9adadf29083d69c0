"""The demo's simulated audience goes through the real room socket, the real chat action and the
real checkout, pays through the in-process provider whose notification reaches the app's notify
endpoint over HTTP, and says it is a demo: its accounts, addresses, orders and payments are marked
demo, its names say demo viewer. A flash sale sells out without overselling, and the audience goes
on; a restarted demo opens a new round of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fieldcast.accounts.models import User
from fieldcast.catalog.regions import path
from fieldcast.chat.models import ChatMessage
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.errors import FlashNotStarted
from fieldcast.commerce.models import HOLDING_STATES, Address, Order, OrderLine, OrderState
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import OutboxMessage
from fieldcast.demo import shop
from fieldcast.demo.audience import AUDIENCE_COUNTIES, AUDIENCE_SIZE, DemoAudience, ensure_audience
from fieldcast.demo.live import FLASH_STARTS_IN, open_flash_sales
from fieldcast.live.models import LiveSession, ShelfItem
from fieldcast.payments.models import (
    NotificationOutcome,
    Payment,
    PaymentNotification,
    PaymentOrder,
    PaymentState,
)
from fieldcast.payments.routes import NOTIFY_PATH
from fieldcast.payments.sandbox import TOPIC_NOTIFY
from tests.conftest import free_port
from tests.factories import LiveOrg, live_session, make_live_org
from tests.media.conftest import Served, fresh_app, media_settings, serve, wait_for

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """The app on a real port that is also its public URL, so the sandbox's notifications reach
    its notify endpoint; no deliberate repeats or delays of those."""
    port = free_port()
    settings = media_settings(
        database_url, tmp_path, port=port, payment_sandbox_duplicate_rate=0.0, payment_sandbox_late_rate=0.0
    )
    app = await fresh_app(settings)
    async with serve(app, settings, port=port) as s:
        yield s


async def demo_room(served: Served, slug: str, **shelf_item: Any) -> tuple[LiveOrg, int]:
    """A live room marked demo (as the seed's are), with the inspected SKU on its shelf."""
    org = await make_live_org(served.app, served.client, slug)
    item = {"sku_id": org.inspected_sku, "live_price_fen": 7900, "session_stock": 50, **shelf_item}
    sid = await live_session(org, shelf=[item])
    async with served.app.state.ctx.uow() as uow:
        await uow.session.execute(sa.update(LiveSession).where(LiveSession.id == sid).values(is_demo=True))
    return org, sid


async def room_orders(ctx: Any, sid: int) -> list[tuple[Order, Payment]]:
    async with ctx.uow() as uow:
        rows = await uow.session.execute(
            sa.select(Order, Payment)
            .join(PaymentOrder, PaymentOrder.order_id == Order.id)
            .join(Payment, Payment.id == PaymentOrder.payment_id)
            .where(Order.session_id == sid)
            .order_by(Order.id)
        )
        return [(o, p) for o, p in rows]


async def test_the_audience_watches_likes_and_comments_through_the_real_paths(served: Served) -> None:
    org = await make_live_org(served.app, served.client, "audience")
    sid = await live_session(org)
    ctx = served.app.state.ctx
    async with ctx.uow() as uow:
        await uow.session.execute(sa.update(LiveSession).where(LiveSession.id == sid).values(is_demo=True))

    users = await ensure_audience(ctx, size=3)
    assert all(u.is_demo and u.display_name.startswith("演示观众") for u in users)
    audience = DemoAudience(ctx, served.base_url.replace("http://", "ws://"))
    try:
        await audience.step(users)

        async def counted() -> bool:
            totals = await ctx.room_hub.counters.totals(sid)
            return totals.viewers >= 6 and totals.likes > 0

        await wait_for(counted, within_s=10, what="the audience's sockets and likes in the counters")
        async with ctx.uow() as uow:
            authors = (
                await uow.session.scalars(
                    sa.select(User)
                    .join(ChatMessage, ChatMessage.user_id == User.id)
                    .where(ChatMessage.session_id == sid)
                )
            ).all()
        assert authors and all(a.is_demo for a in authors)
    finally:
        await audience.close()
    assert len(await ensure_audience(ctx, size=3)) == 3  # made once, found again


async def test_a_demo_viewer_buys_through_checkout_and_the_providers_notification_makes_it_paid(
    served: Served,
) -> None:
    _org, sid = await demo_room(served, "buying")
    ctx = served.app.state.ctx
    users = await ensure_audience(ctx, size=3)
    audience = DemoAudience(ctx, served.base_url.replace("http://", "ws://"), buy_chance=1.0, abandon_chance=0.0)
    try:
        await audience.step(users)
    finally:
        await audience.close()

    [(order, payment)] = await room_orders(ctx, sid)
    assert order.is_demo and payment.is_demo and order.buyer_id in {u.id for u in users}
    assert order.recipient.startswith("演示观众") and order.phone.startswith(shop.DEMO_PHONE_PREFIX)
    assert order.region_code in AUDIENCE_COUNTIES
    # The sandbox's signed notification goes to the app's own notify endpoint, over HTTP.
    await ctx.relay.drain()

    async def paid() -> bool:
        [(o, p)] = await room_orders(ctx, sid)
        return o.state == OrderState.PAID and p.state == PaymentState.PAID

    await wait_for(paid, within_s=10, what="the notification to make the order paid")
    async with ctx.uow() as uow:
        [notification] = (
            await uow.session.scalars(
                sa.select(PaymentNotification).where(PaymentNotification.payment_id == payment.id)
            )
        ).all()
        [sent] = (
            await uow.session.scalars(
                sa.select(OutboxMessage).where(
                    OutboxMessage.topic == TOPIC_NOTIFY, OutboxMessage.key == payment.out_trade_no
                )
            )
        ).all()
        addresses = (
            await uow.session.scalars(sa.select(Address).where(Address.user_id.in_([u.id for u in users])))
        ).all()
    assert notification.outcome == NotificationOutcome.APPLIED
    assert sent.payload["notify_url"] == served.base_url + NOTIFY_PATH.format(provider="sandbox")
    assert sent.published_at is not None and sent.payload["id"] == notification.notification_id
    assert len(addresses) == 3 and all(a.is_demo and a.is_default for a in addresses)


async def test_the_demo_audience_lives_in_a_province_each_so_its_buyers_fill_the_map(served: Served) -> None:
    users = await ensure_audience(served.app.state.ctx)
    ids = {u.id for u in users}
    async with served.app.state.ctx.uow() as uow:
        addresses = (await uow.session.scalars(sa.select(Address).where(Address.user_id.in_(ids)))).all()
    assert len(users) == len(addresses) == AUDIENCE_SIZE and all(a.is_demo for a in addresses)
    provinces = {path(a.region_code)[0].code for a in addresses}
    assert len(provinces) == AUDIENCE_SIZE >= 20
    # the stories' own places among them
    assert {a.region_code for a in addresses} >= {"360981", "420527", "370281", "411324"}


async def test_an_abandoned_demo_checkout_is_left_unpaid_to_expire(served: Served) -> None:
    _org, sid = await demo_room(served, "abandon")
    ctx = served.app.state.ctx
    users = await ensure_audience(ctx, size=2)
    audience = DemoAudience(ctx, served.base_url.replace("http://", "ws://"), abandon_chance=1.0)

    payment_id = await audience.buy(sid, users[0], (await audience.on_sale(sid))[0].sku_id, 1)
    await ctx.relay.drain()

    [(order, payment)] = await room_orders(ctx, sid)
    assert payment.id == payment_id and payment.state == PaymentState.PENDING and not payment.pay_url
    assert order.state == OrderState.PENDING_PAYMENT and order.pay_by > utcnow()


async def test_a_flash_sale_sells_out_without_oversell_and_the_audience_keeps_going(served: Served) -> None:
    started = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    _org, sid = await demo_room(served, "flash", session_stock=5, per_buyer_limit=2, flash_starts_at=started)
    ctx = served.app.state.ctx
    users = await ensure_audience(ctx, size=4)  # room for 8 units at 2 each: more than there are
    audience = DemoAudience(ctx, served.base_url.replace("http://", "ws://"), abandon_chance=0.25)

    async def item() -> ShelfItem:
        async with ctx.uow() as uow:
            found = await uow.session.scalar(sa.select(ShelfItem).where(ShelfItem.session_id == sid))
            assert found is not None
            return found

    try:
        for _ in range(20):
            await audience.step(users)
            if (await item()).session_available == 0:
                break
        sold_out = await item()
        likes = (await ctx.room_hub.counters.totals(sid)).likes
        for _ in range(3):  # the latecomers are told "sold out"; the room goes on
            await audience.step(users)

        async def more_likes() -> bool:
            return (await ctx.room_hub.counters.totals(sid)).likes > likes

        await wait_for(more_likes, within_s=10, what="likes after the sale sold out")
    finally:
        await audience.close()

    assert sold_out.session_available == 0
    assert sold_out.session_sold + sold_out.session_reserved == 5
    async with ctx.uow() as uow:
        held = (
            await uow.session.execute(
                sa.select(Order.buyer_id, sa.func.sum(OrderLine.quantity))
                .join(OrderLine, OrderLine.order_id == Order.id)
                .where(OrderLine.shelf_item_id == sold_out.id, Order.state.in_(HOLDING_STATES))
                .group_by(Order.buyer_id)
            )
        ).all()
        stock_events = (
            await uow.session.scalars(
                sa.select(OutboxMessage).where(
                    OutboxMessage.topic == "room",
                    OutboxMessage.key == str(sid),
                    OutboxMessage.event_type == "shelf.stock",
                )
            )
        ).all()
    assert sum(units for _buyer, units in held) == 5
    assert all(units <= 2 for _buyer, units in held)
    assert any(e.payload["sold_out"] for e in stock_events)  # every screen greys the card


async def test_each_demo_run_counts_the_flash_sale_down_again_and_a_sold_one_gets_a_new_round(served: Served) -> None:
    flash = {"session_stock": 4, "per_buyer_limit": 2, "flash_starts_at": (datetime.now(UTC)).isoformat()}
    org, sid = await demo_room(served, "rounds", **flash)
    ctx = served.app.state.ctx
    buying = shop.Shop(ctx.uow, ctx.gate, ctx.payment_provider, ctx.settings)
    [buyer] = await ensure_audience(ctx, size=1)
    wanted = [Wanted(org.inspected_sku, 2, sid)]

    async def items() -> list[ShelfItem]:
        async with ctx.uow() as uow:
            return list((await uow.session.scalars(sa.select(ShelfItem).where(ShelfItem.session_id == sid))).all())

    before = utcnow()
    assert await open_flash_sales(ctx.uow) == 1
    [first] = await items()
    assert first.flash_starts_at is not None and first.flash_starts_at >= before + FLASH_STARTS_IN
    with pytest.raises(FlashNotStarted):  # the viewer waits for the countdown
        await shop.place(buying, buyer, wanted)

    await open_flash_sales(ctx.uow, starts_in=timedelta(0))
    payment = await shop.place(buying, buyer, wanted)
    await shop.pay_at_provider(buying, buyer, payment.id)
    await ctx.relay.drain()
    [(order, _p)] = await room_orders(ctx, sid)
    await wait_for(lambda: _paid(ctx, order.id), within_s=10, what="the flash order paid")

    await open_flash_sales(ctx.uow)  # the demo restarts

    [fresh] = await items()
    assert fresh.flash_starts_at is not None and fresh.flash_starts_at > utcnow()
    assert (fresh.session_stock, fresh.session_available, fresh.session_sold, fresh.per_buyer_limit) == (4, 4, 0, 2)
    [(order, _p)] = await room_orders(ctx, sid)
    assert order.state == OrderState.PAID  # what sold in the first round stays sold
    async with ctx.uow() as uow:
        line = await uow.session.scalar(sa.select(OrderLine).where(OrderLine.order_id == order.id))
    assert line is not None and line.shelf_item_id is None  # it was the first round's item

    # A round whose units wait for payment goes on as it is when the demo restarts.
    await open_flash_sales(ctx.uow, starts_in=timedelta(0))
    [_first, second] = await ensure_audience(ctx, size=2)
    await shop.place(buying, second, [Wanted(org.inspected_sku, 1, sid)])
    assert await open_flash_sales(ctx.uow) == 0
    [going_on] = await items()
    assert going_on.flash_starts_at is not None and going_on.flash_starts_at <= utcnow()
    assert (going_on.session_available, going_on.session_reserved) == (3, 1)


async def _paid(ctx: Any, order_id: int) -> bool:
    async with ctx.uow() as uow:
        order = await uow.session.get(Order, order_id)
        return order is not None and order.state == OrderState.PAID
