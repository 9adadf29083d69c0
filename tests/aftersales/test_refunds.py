"""Refund requests through the actions, on SQLite and PostgreSQL: each path refunds through the
provider once, units come back only for goods that never left or came back, a repeated refund
outcome or provider call changes nothing, unanswered requests are approved after N days, and
only the right people may do each step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.aftersales import actions as a
from fieldcast.aftersales import errors as e
from fieldcast.aftersales.events import TOPIC_AFTERSALES, RefundRequestChanged
from fieldcast.aftersales.models import (
    RefundKind,
    RefundPhoto,
    RefundReason,
    RefundRequest,
    RefundRequestState,
)
from fieldcast.aftersales.tasks import approve_unanswered
from fieldcast.catalog.errors import BadImage
from fieldcast.commerce import orders as order_actions
from fieldcast.commerce.errors import WrongOrderState
from fieldcast.commerce.models import Order, OrderState, RefundStatus
from fieldcast.commerce.reconcile import reconcile
from fieldcast.db.audit import AuditEntry
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import Envelope, OutboxMessage
from fieldcast.errors import NotAllowed
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.payments.actions import TOPIC_PROVIDER, TOPIC_REFUND, provider_calls
from fieldcast.payments.models import Refund, RefundState, SandboxTransaction
from tests.aftersales.deals import Deal, lines, order_of, paid_deal, stock, user
from tests.factories import png_bytes

ON_BOTH_BACKENDS = True


async def run(app: FastAPI, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One action in its own transaction, as a request runs it."""
    async with app.state.ctx.uow() as uow:
        return await action(uow, *args, **kwargs)


async def ask(app: FastAPI, deal: Deal, asked: a.Asked, who: int | None = None) -> RefundRequest:
    actor = await user(app, who or deal.buyer)
    req: RefundRequest = await run(app, a.open_request, actor, deal.order_id, asked)
    return req


async def request_of(app: FastAPI, request_id: int) -> RefundRequest:
    async with app.state.ctx.uow(write=False) as uow:
        req = await uow.session.get(RefundRequest, request_id)
        assert req is not None
        return req


async def refunded_at_provider(app: FastAPI) -> int:
    async with app.state.ctx.uow(write=False) as uow:
        return int(await uow.session.scalar(sa.select(sa.func.sum(SandboxTransaction.refunded_fen))) or 0)


async def ship(app: FastAPI, deal: Deal) -> None:
    order = await order_of(app, deal.order_id)
    await run(app, order_actions.ship_order, await user(app, deal.supplier), order)


async def deliver(app: FastAPI, deal: Deal) -> None:
    await ship(app, deal)
    await run(app, order_actions.confirm_delivery, await user(app, deal.buyer), await order_of(app, deal.order_id))


async def approve(app: FastAPI, deal: Deal, request_id: int) -> RefundRequest:
    req: RefundRequest = await run(app, a.approve, app.state.ctx.gate, await user(app, deal.supplier), request_id)
    return req


async def gate_is_quiet(app: FastAPI) -> None:
    ctx = app.state.ctx
    assert await reconcile(ctx.uow, ctx.gate) == []


# == the paths ==================================================================================


async def test_refund_only_before_shipping_refunds_and_puts_the_units_back_on_sale(app: FastAPI) -> None:
    deal = await paid_deal(app, pool_units=2)
    before = await stock(app, deal)
    assert before.sku[:3] == (2, 0, 8) and before.pool[:3] == (2, 0, 3)
    order = await order_of(app, deal.order_id)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.TOO_SLOW, order.total_fen, quantity=2))
    assert (req.state, req.order_state_at_request) == (RefundRequestState.REQUESTED, "paid")
    assert (await stock(app, deal)) == before  # asking changes nothing yet

    approved = await approve(app, deal, req.id)
    assert approved.state == RefundRequestState.REFUNDING
    after = await stock(app, deal)
    assert after.sku[:3] == (0, 0, 10) and after.pool[:3] == (0, 0, 5)  # never shipped: back on sale
    assert (await order_of(app, deal.order_id)).refund_status == RefundStatus.REFUNDING
    with pytest.raises(WrongOrderState):  # nothing left to ship while the money goes back
        await ship(app, deal)

    await app.state.ctx.relay.drain()  # the provider refunds; its outcome comes back once
    done = await request_of(app, req.id)
    order = await order_of(app, deal.order_id)
    assert done.state == RefundRequestState.REFUNDED and done.refunded_at is not None
    assert (order.refund_status, order.refunded_fen, order.state) == (
        RefundStatus.REFUNDED,
        order.total_fen,
        OrderState.PAID,
    )
    assert await refunded_at_provider(app) == order.total_fen
    assert done.returned_lines == {str((await lines(app, deal.order_id))[0].id): 2}
    await gate_is_quiet(app)


async def test_all_the_money_back_before_shipping_puts_every_unit_back_whatever_was_asked(app: FastAPI) -> None:
    deal = await paid_deal(app, pool_units=2, plain_units=1)
    order = await order_of(app, deal.order_id)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.CHANGED_MIND, order.total_fen))
    assert req.quantity == 0  # the buyer asked for money only...
    await approve(app, deal, req.id)
    after = await stock(app, deal)  # ...but nothing of the order will ship: all of it is back
    assert (after.sku[:3], after.pool[:3], after.plain[:3]) == ((0, 0, 10), (0, 0, 5), (0, 0, 10))
    assert (await request_of(app, req.id)).quantity == 3
    await gate_is_quiet(app)


async def test_a_partial_refund_before_shipping_with_no_units_leaves_the_order_to_ship(app: FastAPI) -> None:
    deal = await paid_deal(app, pool_units=2)
    before = await stock(app, deal)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.OTHER, 100))  # a price difference
    await approve(app, deal, req.id)
    await app.state.ctx.relay.drain()
    assert await stock(app, deal) == before
    order = await order_of(app, deal.order_id)
    assert (order.refund_status, order.refunded_fen) == (RefundStatus.PARTIALLY_REFUNDED, 100)
    await ship(app, deal)  # partly refunded, it still ships
    assert (await order_of(app, deal.order_id)).state == OrderState.SHIPPED


async def test_refund_only_for_goods_that_never_came_refunds_but_puts_nothing_back(app: FastAPI) -> None:
    deal = await paid_deal(app, pool_units=2)
    await ship(app, deal)
    shipped = await stock(app, deal)
    order = await order_of(app, deal.order_id)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.NEVER_ARRIVED, order.total_fen, quantity=2))
    await approve(app, deal, req.id)
    await app.state.ctx.relay.drain()
    assert (await request_of(app, req.id)).state == RefundRequestState.REFUNDED
    assert await refunded_at_provider(app) == order.total_fen
    assert await stock(app, deal) == shipped  # lost in transit: gone, not back on any shelf
    assert (await request_of(app, req.id)).returned_lines == {}
    await gate_is_quiet(app)


async def test_return_and_refund_puts_units_back_only_when_the_supplier_receives_them(app: FastAPI) -> None:
    deal = await paid_deal(app, pool_units=2, plain_units=1)
    await deliver(app, deal)
    delivered = await stock(app, deal)
    pool_line, plain_line = await lines(app, deal.order_id)
    # One of the two pool units was spoiled: half of that line back, per line.
    req = await ask(
        app,
        deal,
        a.Asked(
            RefundKind.RETURN_AND_REFUND,
            RefundReason.SPOILED,
            pool_line.unit_price_fen,
            quantity=1,
            order_line_id=pool_line.id,
        ),
    )
    assert (await approve(app, deal, req.id)).state == RefundRequestState.AWAITING_RETURN
    assert await stock(app, deal) == delivered
    buyer = await user(app, deal.buyer)
    sent = await run(app, a.send_return, buyer, req.id, "顺丰速运", "SF1234567890")
    assert sent.state == RefundRequestState.RETURNING
    assert await stock(app, deal) == delivered  # on its way back: not yet on sale
    await app.state.ctx.relay.drain()
    assert await refunded_at_provider(app) == 0  # no money before the goods are back

    got = await run(app, a.confirm_return, app.state.ctx.gate, await user(app, deal.supplier), req.id)
    assert got.state == RefundRequestState.REFUNDING
    after = await stock(app, deal)
    assert after.sku[:3] == (delivered.sku[0] - 1, 0, delivered.sku[2] + 1)
    assert after.pool[:3] == (delivered.pool[0] - 1, 0, delivered.pool[2] + 1)
    assert after.plain == delivered.plain  # the other line was not returned
    await app.state.ctx.relay.drain()
    order = await order_of(app, deal.order_id)
    assert (order.refund_status, order.refunded_fen) == (RefundStatus.PARTIALLY_REFUNDED, pool_line.unit_price_fen)
    assert await refunded_at_provider(app) == pool_line.unit_price_fen
    assert plain_line.line_total_fen > 0
    await gate_is_quiet(app)

    # A second request may ask for at most what is left (and no more units than were not returned).
    with pytest.raises(e.BadRefundAmount):
        await ask(app, deal, a.Asked(RefundKind.RETURN_AND_REFUND, RefundReason.DAMAGED, order.total_fen, quantity=1))
    with pytest.raises(e.BadRefundInput):
        await ask(
            app,
            deal,
            a.Asked(RefundKind.RETURN_AND_REFUND, RefundReason.DAMAGED, 100, quantity=2, order_line_id=pool_line.id),
        )


async def test_a_rejected_request_escalated_is_decided_by_the_organiser(app: FastAPI) -> None:
    deal = await paid_deal(app)
    await deliver(app, deal)
    order = await order_of(app, deal.order_id)
    asked = a.Asked(RefundKind.RETURN_AND_REFUND, RefundReason.NOT_AS_DESCRIBED, 1000, quantity=1)
    req = await ask(app, deal, asked)
    supplier, buyer, organiser = [await user(app, x) for x in (deal.supplier, deal.buyer, deal.organiser)]
    with pytest.raises(e.BadRefundInput):  # a rejection says why
        await run(app, a.reject, supplier, req.id, "  ")
    rejected = await run(app, a.reject, supplier, req.id, "照片与商品不符")
    assert rejected.state == RefundRequestState.REJECTED
    escalated = await run(app, a.escalate, buyer, req.id, "蓝莓确实坏了")
    assert escalated.state == RefundRequestState.ESCALATED
    granted = await run(app, a.arbitrate, app.state.ctx.gate, organiser, req.id, grant=True, reason="照片可见霉变")
    assert granted.state == RefundRequestState.AWAITING_RETURN  # as if the supplier had approved
    assert order.refunded_fen == 0


async def test_an_organiser_who_upholds_the_rejection_closes_the_request(app: FastAPI) -> None:
    deal = await paid_deal(app)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.OTHER, 500))
    await run(app, a.reject, await user(app, deal.supplier), req.id, "已备货")
    await run(app, a.escalate, await user(app, deal.buyer), req.id)
    closed = await run(
        app, a.arbitrate, app.state.ctx.gate, await user(app, deal.organiser), req.id, grant=False, reason="理由不足"
    )
    assert closed.state == RefundRequestState.CLOSED
    await app.state.ctx.relay.drain()
    assert await refunded_at_provider(app) == 0
    # Closed, the order is free for a new request.
    again = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.OTHER, 500))
    assert again.state == RefundRequestState.REQUESTED


async def test_what_cannot_be_asked(app: FastAPI) -> None:
    deal = await paid_deal(app)
    order = await order_of(app, deal.order_id)
    with pytest.raises(e.NotRefundable):  # return and refund needs the goods delivered
        await ask(app, deal, a.Asked(RefundKind.RETURN_AND_REFUND, RefundReason.DAMAGED, 100, quantity=1))
    with pytest.raises(e.BadRefundAmount):
        await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, order.total_fen + 1))
    with pytest.raises(e.BadRefundInput):
        await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, 100, quantity=3))
    await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, 100))
    with pytest.raises(e.RequestOpen):
        await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, 100))


async def test_the_time_after_the_show_ended_is_kept(app: FastAPI) -> None:
    deal = await paid_deal(app)
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(LiveSession)
            .where(LiveSession.id == deal.shop.session_id)
            .values(state=SessionState.ENDED, ended_at=utcnow() - timedelta(hours=3))
        )
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.CHANGED_MIND, 100))
    assert req.seconds_after_show_end is not None
    assert 3 * 3600 <= req.seconds_after_show_end < 3 * 3600 + 120


# == events ====================================================================================


async def test_every_step_is_an_event_of_the_contract_and_an_audit_entry(app: FastAPI) -> None:
    deal = await paid_deal(app)
    await deliver(app, deal)
    req = await ask(app, deal, a.Asked(RefundKind.RETURN_AND_REFUND, RefundReason.WRONG_ITEM, 500, quantity=1))
    await approve(app, deal, req.id)
    await run(app, a.send_return, await user(app, deal.buyer), req.id, "中通快递", "ZT20261127001")
    await run(app, a.confirm_return, app.state.ctx.gate, await user(app, deal.supplier), req.id)
    await app.state.ctx.relay.drain()
    async with app.state.ctx.uow(write=False) as uow:
        messages = list(
            await uow.session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_AFTERSALES).order_by(OutboxMessage.id)
            )
        )
        actions = list(
            await uow.session.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.target_type == "refund_request", AuditEntry.target_id == str(req.id))
                .order_by(AuditEntry.id)
            )
        )
    events = [RefundRequestChanged.model_validate(m.payload) for m in messages]  # extra="forbid"
    assert [x.state for x in events] == ["requested", "awaiting_return", "returning", "refunding", "refunded"]
    assert all(m.event_type == RefundRequestChanged.event_type and m.key == str(req.id) for m in messages)
    assert actions == [
        "refund.request",
        "refund.approve",
        "refund.return_sent",
        "refund.return_received",
        "refund.send",
        "refund.refunded",
    ]


# == exactly once ================================================================================


async def test_a_duplicate_refund_outcome_and_a_repeated_provider_call_refund_once(app: FastAPI) -> None:
    deal = await paid_deal(app)
    order = await order_of(app, deal.order_id)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, 700))
    await approve(app, deal, req.id)
    ctx = app.state.ctx
    async with ctx.uow(write=False) as uow:
        call = await uow.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_PROVIDER, OutboxMessage.event_type == "refund")
        )
        assert call is not None
        call_envelope = Envelope(call.id, call.topic, call.key, call.event_type, dict(call.payload), call.created_at)
    await ctx.relay.drain()
    # The relay died after the provider refunded: the same call comes again.
    await provider_calls(ctx.payment_provider, ctx.uow)(call_envelope)
    async with ctx.uow(write=False) as uow:
        outcome = await uow.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_REFUND))
        assert outcome is not None
        outcome_envelope = Envelope(
            outcome.id, outcome.topic, outcome.key, outcome.event_type, dict(outcome.payload), outcome.created_at
        )
        outcomes = await uow.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.topic == TOPIC_REFUND)
        )
    assert outcomes == 1  # told once
    # The outcome is delivered twice (at least once, by design): applied once.
    await a.refund_outcomes(ctx.uow)(outcome_envelope)
    await a.refund_outcomes(ctx.uow)(outcome_envelope)
    order = await order_of(app, deal.order_id)
    assert (order.refunded_fen, order.refund_status) == (700, RefundStatus.PARTIALLY_REFUNDED)
    assert await refunded_at_provider(app) == 700
    async with ctx.uow(write=False) as uow:
        refunds = list(await uow.session.scalars(sa.select(Refund)))
        applied = await uow.session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "refund.refunded")
        )
    assert [(r.state, r.amount_fen) for r in refunds] == [(RefundState.SUCCEEDED, 700)]
    assert applied == 1
    # Approving again is refused: one refund per request.
    with pytest.raises(e.WrongRequestState):
        await approve(app, deal, req.id)


# == automatic approval ===========================================================================


async def test_a_request_unanswered_for_n_days_is_approved_by_the_upkeep(app: FastAPI) -> None:
    old, fresh = await paid_deal(app), await paid_deal(app)
    ctx = app.state.ctx
    req_old = await ask(app, old, a.Asked(RefundKind.REFUND_ONLY, RefundReason.TOO_SLOW, 300, quantity=1))
    req_fresh = await ask(app, fresh, a.Asked(RefundKind.REFUND_ONLY, RefundReason.TOO_SLOW, 300))
    async with ctx.uow() as uow:
        await uow.session.execute(
            sa.update(RefundRequest)
            .where(RefundRequest.id == req_old.id)
            .values(created_at=utcnow() - timedelta(days=2, minutes=1))
        )
        await uow.session.execute(
            sa.update(RefundRequest)
            .where(RefundRequest.id == req_fresh.id)
            .values(created_at=utcnow() - timedelta(days=1, hours=23))
        )
    before = await stock(app, old)
    assert await approve_unanswered(ctx.uow, ctx.gate, days=2) == 1
    assert await approve_unanswered(ctx.uow, ctx.gate, days=2) == 0  # once
    auto = await request_of(app, req_old.id)
    assert (auto.state, auto.decided_by) == (RefundRequestState.REFUNDING, None)
    assert auto.decided_at is not None
    assert (await request_of(app, req_fresh.id)).state == RefundRequestState.REQUESTED
    assert (await stock(app, old)).sku[2] == before.sku[2] + 1  # never shipped: back on sale
    await ctx.relay.drain()
    assert (await request_of(app, req_old.id)).state == RefundRequestState.REFUNDED
    async with ctx.uow(write=False) as uow:
        entry = await uow.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "refund.auto_approve"))
    assert entry is not None and entry.actor_id is None


# == who may not =================================================================================


async def test_only_the_buyer_asks_and_escalates(app: FastAPI) -> None:
    deal = await paid_deal(app)
    asked = a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, 100)
    for who in (deal.other_buyer, deal.supplier, deal.organiser, deal.outsider):
        with pytest.raises(NotAllowed):
            await ask(app, deal, asked, who=who)
    req = await ask(app, deal, asked)
    await run(app, a.reject, await user(app, deal.supplier), req.id, "不同意")
    for who in (deal.other_buyer, deal.supplier, deal.organiser):
        with pytest.raises(NotAllowed):
            await run(app, a.escalate, await user(app, who), req.id)
    assert (await request_of(app, req.id)).state == RefundRequestState.REJECTED


async def test_only_the_suppliers_members_approve_or_reject(app: FastAPI) -> None:
    deal = await paid_deal(app)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, 100))
    for who in (deal.buyer, deal.other_buyer, deal.organiser, deal.outsider):
        with pytest.raises(NotAllowed):
            await run(app, a.approve, app.state.ctx.gate, await user(app, who), req.id)
        with pytest.raises(NotAllowed):
            await run(app, a.reject, await user(app, who), req.id, "不行")
    assert (await request_of(app, req.id)).state == RefundRequestState.REQUESTED


async def test_only_the_shows_organiser_decides_an_escalation(app: FastAPI) -> None:
    deal = await paid_deal(app)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, 100))
    await run(app, a.reject, await user(app, deal.supplier), req.id, "不同意")
    await run(app, a.escalate, await user(app, deal.buyer), req.id)
    for who in (deal.buyer, deal.supplier, deal.outsider, deal.other_buyer):
        with pytest.raises(NotAllowed):
            await run(app, a.arbitrate, app.state.ctx.gate, await user(app, who), req.id, grant=True, reason="可以")
    assert (await request_of(app, req.id)).state == RefundRequestState.ESCALATED


# == photos =====================================================================================


async def test_photos_are_re_encoded_and_limited(app: FastAPI, tmp_path: Any) -> None:
    deal = await paid_deal(app)
    req = await ask(app, deal, a.Asked(RefundKind.REFUND_ONLY, RefundReason.DAMAGED, 100))
    buyer = await user(app, deal.buyer)
    with pytest.raises(BadImage) as bad:
        await run(app, a.add_photo, buyer, req.id, b"not an image", tmp_path)
    assert bad.value.field == "photo"
    with pytest.raises(NotAllowed):
        await run(app, a.add_photo, await user(app, deal.supplier), req.id, png_bytes((40, 30)), tmp_path)
    for _ in range(3):
        photo = await run(app, a.add_photo, buyer, req.id, png_bytes((1200, 900)), tmp_path)
        assert photo.path.endswith(".webp") and (tmp_path / photo.path).is_file()
    with pytest.raises(e.TooManyPhotos):
        await run(app, a.add_photo, buyer, req.id, png_bytes((40, 30)), tmp_path)
    async with app.state.ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(RefundPhoto.id))) == 3
    assert len(list((tmp_path / "refunds" / str(req.id)).iterdir())) == 6  # each with its thumbnail


async def test_a_late_payment_refund_is_not_an_after_sales_one(app: FastAPI) -> None:
    """The refund outcome of a refund no request asked for changes no request and no order."""
    deal = await paid_deal(app)
    async with app.state.ctx.uow() as uow:
        assert await a.apply_refund_outcome(uow, 999_999, True) is None
    assert (await order_of(app, deal.order_id)).refunded_fen == 0
    async with app.state.ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(Order.id))) == 1
