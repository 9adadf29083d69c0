"""The writes of after-sales, one action per thing a person does: lock → check → change →
audit → emit. Rows are locked in one order everywhere: the order first, then its request.

Who may do what (checked here, not in the routes):
- the order's buyer opens a request, adds photos, escalates a rejection, sends a return back;
- members of the supplier's organisation with the supplier or owner role approve or reject, and
  confirm that a return arrived;
- organisers (or owners) of the organisation that ran the show (the order's organisation)
  decide an escalation;
- nobody else; the system approves what the supplier leaves unanswered for N days.

Money goes back through payments' refund (one refund row per request, asked of the provider by
the outbox relay outside any lock, idempotent by out_refund_no), and the outcome comes back on
TOPIC_REFUND to `apply_refund_outcome`, which applies it once. Units come back only for goods
that never left (refund only on a paid order) or came back (a return the supplier received)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fieldcast.accounts.models import Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.aftersales import errors as e
from fieldcast.aftersales.events import TOPIC_AFTERSALES, RefundRequestChanged
from fieldcast.aftersales.models import (
    CARRIER_MAX,
    COMMITTED_STATES,
    DECISION_REASON_MAX,
    NOTE_MAX,
    OPEN_STATES,
    PHOTOS_MAX,
    TRACKING_MAX,
    RefundKind,
    RefundPhoto,
    RefundReason,
    RefundRequest,
    RefundRequestState,
)
from fieldcast.catalog.images import remove_stored, store_image
from fieldcast.catalog.models import Supplier
from fieldcast.commerce import refunds as order_refunds
from fieldcast.commerce.gate import StockGate
from fieldcast.commerce.models import Order, OrderLine, OrderState
from fieldcast.commerce.orders import lock_orders
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.locks import lock_row
from fieldcast.db.outbox import Deliver, Envelope
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.live.models import LiveSession
from fieldcast.payments import actions as payments

SUPPLIER_DECIDERS = (Role.SUPPLIER, Role.OWNER)
ARBITERS = (Role.ORGANISER, Role.OWNER)
PHOTO_FOLDER = "refunds"

# Which kind of request fits which order state.
KIND_STATES = {
    RefundKind.REFUND_ONLY: (OrderState.PAID, OrderState.SHIPPED),
    RefundKind.RETURN_AND_REFUND: (OrderState.DELIVERED, OrderState.COMPLETED),
}


@dataclass(frozen=True)
class Asked:
    """What the buyer asks for (plain values: the API and the page both build one)."""

    kind: RefundKind
    reason: RefundReason
    amount_fen: int
    quantity: int = 0
    order_line_id: int | None = None
    note: str = ""
    return_carrier: str = ""
    return_tracking_no: str = ""


def _audit(uow: UnitOfWork, actor_id: int | None, action: str, req: RefundRequest, **details: Any) -> None:
    record_audit(
        uow,
        actor_id=actor_id,
        action=action,
        target_type="refund_request",
        target_id=req.id,
        organisation_id=req.organisation_id,
        details={"order_id": req.order_id, **details},
    )


def _emit(uow: UnitOfWork, req: RefundRequest) -> None:
    event = RefundRequestChanged(
        request_id=req.id,
        order_id=req.order_id,
        state=req.state.value,
        kind=req.kind.value,
        reason=req.reason.value,
        amount_fen=req.amount_fen,
        organisation_id=req.organisation_id,
        supplier_id=req.supplier_id,
        session_id=req.session_id,
        seconds_after_show_end=req.seconds_after_show_end,
    )
    uow.publish(TOPIC_AFTERSALES, str(req.id), event.event_type, event.model_dump(mode="json"))


def _clean(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


# -- reads used by the actions ---------------------------------------------------------------------


async def request_or_404(uow: UnitOfWork, request_id: int) -> RefundRequest:
    req = await uow.session.get(RefundRequest, request_id)
    if req is None:
        raise NotFound(N_("No such refund request."))
    return req


async def _locked(uow: UnitOfWork, request_id: int) -> tuple[Order, RefundRequest]:
    """The order, then the request, locked in that order (the order's id first, always)."""
    found = await request_or_404(uow, request_id)
    (order,) = await lock_orders(uow, [found.order_id])
    req = await lock_row(uow.session, RefundRequest, request_id)
    if req is None:
        raise NotFound(N_("No such refund request."))
    return order, req


async def _require_buyer(order_or_req: Order | RefundRequest, actor: User | None) -> User:
    user = require_user(actor)
    if order_or_req.buyer_id != user.id:
        raise e.NotTheBuyer(N_("Only the order's buyer can do this."))
    return user


async def _require_supplier(uow: UnitOfWork, actor: User | None, req: RefundRequest) -> User:
    user = require_user(actor)
    supplier = await uow.session.get(Supplier, req.supplier_id)
    if supplier is None:
        raise NotFound(N_("No such refund request."))
    await require_org_role(uow.session, user, supplier.organisation_id, *SUPPLIER_DECIDERS)
    return user


async def _require_arbiter(uow: UnitOfWork, actor: User | None, req: RefundRequest) -> User:
    user = require_user(actor)
    org_id = req.organisation_id
    if req.session_id is not None:
        live = await uow.session.get(LiveSession, req.session_id)
        if live is not None:
            org_id = live.organisation_id
    await require_org_role(uow.session, user, org_id, *ARBITERS)
    return user


def _require_state(req: RefundRequest, *states: RefundRequestState) -> None:
    if req.state not in states:
        raise e.WrongRequestState(
            N_("This refund request is %(state)s; that cannot be done now."), field="state", state=req.state.value
        )


async def _others(uow: UnitOfWork, order_id: int) -> list[RefundRequest]:
    rows = await uow.session.scalars(
        sa.select(RefundRequest).where(RefundRequest.order_id == order_id).order_by(RefundRequest.id)
    )
    return list(rows)


def _units_left(lines: Sequence[OrderLine], earlier: Sequence[RefundRequest]) -> dict[int, int]:
    """Units of each line not yet put back on sale."""
    left = {line.id: line.quantity for line in lines}
    for req in earlier:
        for line_id, units in (req.returned_lines or {}).items():
            if int(line_id) in left:
                left[int(line_id)] -= int(units)
    return left


def _line_committed_fen(line_id: int, earlier: Sequence[RefundRequest]) -> int:
    return sum(r.amount_fen for r in earlier if r.order_line_id == line_id and r.state in COMMITTED_STATES)


# -- the buyer ---------------------------------------------------------------------------------------


async def open_request(uow: UnitOfWork, actor: User | None, order_id: int, asked: Asked) -> RefundRequest:
    """The buyer asks for money back on an order (or one line of it). Refund only while paid or
    shipped; return and refund once delivered. One open request per order at a time; the amount
    is at most what is left to refund (of the line, when one is named)."""
    user = require_user(actor)
    order = await uow.session.get(Order, order_id)
    if order is None or order.buyer_id != user.id:
        raise e.NotTheBuyer(N_("Only the order's buyer can ask for a refund."))
    (order,) = await lock_orders(uow, [order_id])
    if order.state not in KIND_STATES[asked.kind]:
        raise e.NotRefundable(
            N_("This kind of refund cannot be asked for an order that is %(state)s."),
            field="kind",
            state=order.state.value,
        )
    earlier = await _others(uow, order.id)
    if any(r.state in OPEN_STATES for r in earlier):
        raise e.RequestOpen(N_("This order already has an open refund request."), field="kind")
    lines = await order_refunds.order_lines(uow, order.id)
    left_units = _units_left(lines, earlier)
    limit_fen = order_refunds.refundable_fen(order)
    if asked.order_line_id is not None:
        line = next((x for x in lines if x.id == asked.order_line_id), None)
        if line is None:
            raise e.BadRefundInput(N_("Choose a line of this order."), field="order_line_id")
        limit_fen = min(limit_fen, line.line_total_fen - _line_committed_fen(line.id, earlier))
        units_limit = left_units[line.id]
    else:
        units_limit = sum(left_units.values())
    if asked.amount_fen <= 0 or asked.amount_fen > limit_fen:
        raise e.BadRefundAmount(
            N_("The amount must be between 0.01 and %(max)s yuan."), field="amount_fen", max=f"{limit_fen / 100:.2f}"
        )
    if asked.quantity < 0 or asked.quantity > units_limit:
        raise e.BadRefundInput(N_("Units that can be sent back: at most %(n)s."), field="quantity", n=units_limit)
    if asked.kind == RefundKind.RETURN_AND_REFUND and asked.quantity == 0:
        raise e.BadRefundInput(N_("Say how many units you send back."), field="quantity")
    now = utcnow()
    seconds_after_end: int | None = None
    if order.session_id is not None:
        live = await uow.session.get(LiveSession, order.session_id)
        if live is not None and live.ended_at is not None:
            seconds_after_end = int((now - live.ended_at).total_seconds())
    req = RefundRequest(
        order_id=order.id,
        order_line_id=asked.order_line_id,
        buyer_id=user.id,
        organisation_id=order.organisation_id,
        supplier_id=order.supplier_id,
        session_id=order.session_id,
        kind=asked.kind,
        reason=asked.reason,
        note=_clean(asked.note, NOTE_MAX),
        amount_fen=asked.amount_fen,
        quantity=asked.quantity,
        order_state_at_request=order.state.value,
        seconds_after_show_end=seconds_after_end,
        return_carrier=_clean(asked.return_carrier, CARRIER_MAX),
        return_tracking_no=_clean(asked.return_tracking_no, TRACKING_MAX),
        returned_lines={},
        is_demo=order.is_demo,
    )
    uow.session.add(req)
    await uow.session.flush()
    _audit(
        uow,
        user.id,
        "refund.request",
        req,
        kind=req.kind.value,
        reason=req.reason.value,
        amount_fen=req.amount_fen,
        quantity=req.quantity,
        seconds_after_show_end=seconds_after_end,
    )
    _emit(uow, req)
    return req


async def add_photo(uow: UnitOfWork, actor: User | None, request_id: int, data: bytes, media_dir: Path) -> RefundPhoto:
    """A photo of the goods, checked by decoding and re-encoded without metadata like product
    images (at most PHOTOS_MAX per request, 8 MB each before re-encoding)."""
    order, req = await _locked(uow, request_id)
    user = await _require_buyer(req, actor)
    _require_state(req, RefundRequestState.REQUESTED, RefundRequestState.REJECTED, RefundRequestState.ESCALATED)
    count = await uow.session.scalar(sa.select(sa.func.count(RefundPhoto.id)).where(RefundPhoto.request_id == req.id))
    if (count or 0) >= PHOTOS_MAX:
        raise e.TooManyPhotos(N_("At most %(n)s photos per request."), field="photo", n=PHOTOS_MAX)
    # The same checks and messages as product images, on this form's field.
    stored = await store_image(data, media_dir, f"{PHOTO_FOLDER}/{req.id}", uploader_id=user.id, field="photo")
    # A failed transaction must not leave files behind.
    uow.on_rollback(lambda: remove_stored(media_dir, stored.path, stored.thumb_path))
    photo = RefundPhoto(
        request_id=req.id,
        path=stored.path,
        thumb_path=stored.thumb_path,
        width=stored.width,
        height=stored.height,
    )
    uow.session.add(photo)
    await uow.session.flush()
    _audit(uow, user.id, "refund.photo", req, photo_id=photo.id, order_state=order.state.value)
    return photo


async def escalate(uow: UnitOfWork, actor: User | None, request_id: int, note: str = "") -> RefundRequest:
    """The buyer takes a rejected request to the show's organiser."""
    _order, req = await _locked(uow, request_id)
    user = await _require_buyer(req, actor)
    _require_state(req, RefundRequestState.REJECTED)
    req.state = RefundRequestState.ESCALATED
    req.escalated_at = utcnow()
    req.escalation_note = _clean(note, NOTE_MAX)
    _audit(uow, user.id, "refund.escalate", req, note=req.escalation_note)
    _emit(uow, req)
    return req


async def send_return(
    uow: UnitOfWork, actor: User | None, request_id: int, carrier: str, tracking_no: str
) -> RefundRequest:
    """The buyer sent the goods back: the carrier and its tracking number."""
    _order, req = await _locked(uow, request_id)
    user = await _require_buyer(req, actor)
    _require_state(req, RefundRequestState.AWAITING_RETURN)
    carrier, tracking_no = _clean(carrier, CARRIER_MAX), _clean(tracking_no, TRACKING_MAX)
    if not carrier:
        raise e.BadRefundInput(N_("Name the carrier you sent it with."), field="return_carrier")
    if len(tracking_no) < 6:
        raise e.BadRefundInput(N_("Enter the tracking number (at least 6 characters)."), field="return_tracking_no")
    req.return_carrier, req.return_tracking_no = carrier, tracking_no
    req.state = RefundRequestState.RETURNING
    _audit(uow, user.id, "refund.return_sent", req, carrier=carrier, tracking_no=tracking_no)
    _emit(uow, req)
    return req


# -- the supplier ------------------------------------------------------------------------------------


async def approve(uow: UnitOfWork, gate: StockGate, actor: User | None, request_id: int) -> RefundRequest:
    """The supplier agrees: refund only is refunded now (units back if nothing was shipped);
    return and refund waits for the goods."""
    order, req = await _locked(uow, request_id)
    user = await _require_supplier(uow, actor, req)
    _require_state(req, RefundRequestState.REQUESTED)
    req.decided_at, req.decided_by = utcnow(), user.id
    _audit(uow, user.id, "refund.approve", req)
    await _go_ahead(uow, gate, order, req, user.id)
    return req


async def reject(uow: UnitOfWork, actor: User | None, request_id: int, reason: str) -> RefundRequest:
    """The supplier refuses, saying why; the buyer may escalate to the organiser."""
    _order, req = await _locked(uow, request_id)
    user = await _require_supplier(uow, actor, req)
    _require_state(req, RefundRequestState.REQUESTED)
    reason = _clean(reason, DECISION_REASON_MAX)
    if not reason:
        raise e.BadRefundInput(N_("Say why the request is rejected."), field="reason")
    req.state = RefundRequestState.REJECTED
    req.supplier_reason = reason
    req.decided_at, req.decided_by = utcnow(), user.id
    _audit(uow, user.id, "refund.reject", req, reason=reason)
    _emit(uow, req)
    return req


async def confirm_return(uow: UnitOfWork, gate: StockGate, actor: User | None, request_id: int) -> RefundRequest:
    """The supplier received the goods back: the units return to sale and the money goes back."""
    order, req = await _locked(uow, request_id)
    user = await _require_supplier(uow, actor, req)
    _require_state(req, RefundRequestState.RETURNING, RefundRequestState.AWAITING_RETURN)
    req.returned_at = utcnow()
    _audit(uow, user.id, "refund.return_received", req)
    await _units_back(uow, gate, order, req)
    await _send_refund(uow, order, req, user.id)
    return req


# -- the organiser -----------------------------------------------------------------------------------


async def arbitrate(
    uow: UnitOfWork, gate: StockGate, actor: User | None, request_id: int, *, grant: bool, reason: str
) -> RefundRequest:
    """The organiser decides an escalated request: grant it (it goes ahead as if approved) or
    uphold the rejection (the request closes)."""
    order, req = await _locked(uow, request_id)
    user = await _require_arbiter(uow, actor, req)
    _require_state(req, RefundRequestState.ESCALATED)
    reason = _clean(reason, DECISION_REASON_MAX)
    if not reason:
        raise e.BadRefundInput(N_("Say why you decide so."), field="reason")
    req.organiser_reason = reason
    req.arbitrated_at, req.arbitrated_by = utcnow(), user.id
    _audit(uow, user.id, "refund.arbitrate", req, grant=grant, reason=reason)
    if grant:
        await _go_ahead(uow, gate, order, req, user.id)
    else:
        req.state = RefundRequestState.CLOSED
        _emit(uow, req)
    return req


# -- the system --------------------------------------------------------------------------------------


async def due_for_auto_approval(uow: UnitOfWork, now: datetime, days: int, limit: int = 100) -> list[int]:
    rows = await uow.session.scalars(
        sa.select(RefundRequest.id)
        .where(
            RefundRequest.state == RefundRequestState.REQUESTED, RefundRequest.created_at <= now - timedelta(days=days)
        )
        .order_by(RefundRequest.created_at, RefundRequest.id)
        .limit(limit)
    )
    return list(rows)


async def auto_approve(uow: UnitOfWork, gate: StockGate, request_id: int, now: datetime, days: int) -> bool:
    """Approve a request the supplier left unanswered for `days` (False: answered meanwhile)."""
    order, req = await _locked(uow, request_id)
    if req.state != RefundRequestState.REQUESTED or req.created_at > now - timedelta(days=days):
        return False
    req.decided_at, req.decided_by = now, None
    _audit(uow, None, "refund.auto_approve", req, days=days)
    await _go_ahead(uow, gate, order, req, None)
    return True


async def apply_refund_outcome(uow: UnitOfWork, refund_id: int, succeeded: bool) -> RefundRequest | None:
    """The provider's answer to a request's refund, applied once: a repeat finds the request no
    longer refunding and changes nothing. None: not an after-sales refund (a late payment's)."""
    found = await uow.session.scalar(sa.select(RefundRequest).where(RefundRequest.refund_id == refund_id))
    if found is None:
        return None
    order, req = await _locked(uow, found.id)
    if req.state != RefundRequestState.REFUNDING:
        return req
    if succeeded:
        req.state = RefundRequestState.REFUNDED
        req.refunded_at = utcnow()
        order_refunds.refund_settled(uow, order, req.amount_fen)
    else:
        req.state = RefundRequestState.REFUND_FAILED
        order_refunds.refund_settled(uow, order, 0)
    _audit(uow, None, "refund.refunded" if succeeded else "refund.failed", req, amount_fen=req.amount_fen)
    _emit(uow, req)
    return req


def refund_outcomes(new_uow: Callable[..., UnitOfWork]) -> Deliver:
    """The outbox consumer of payments' TOPIC_REFUND: each refund's outcome, applied once."""

    async def deliver(message: Envelope) -> None:
        if message.event_type != "refund.finished":
            return
        async with new_uow() as uow:
            await apply_refund_outcome(uow, int(str(message.payload["refund_id"])), bool(message.payload["succeeded"]))

    return deliver


# -- the steps shared by the decisions -----------------------------------------------------------------


async def _go_ahead(uow: UnitOfWork, gate: StockGate, order: Order, req: RefundRequest, actor_id: int | None) -> None:
    if req.kind == RefundKind.RETURN_AND_REFUND:
        has_tracking = bool(req.return_carrier and req.return_tracking_no)
        req.state = RefundRequestState.RETURNING if has_tracking else RefundRequestState.AWAITING_RETURN
        _emit(uow, req)
        return
    # Refund only: units come back only if nothing left the supplier (the order is still paid).
    # Shipped goods that never came are lost in transit: they are not back on any shelf.
    if order.state == OrderState.PAID:
        if req.amount_fen >= order_refunds.refundable_fen(order):
            # All the money back: nothing of it will ship, so every unit not yet back returns.
            lines = await order_refunds.order_lines(uow, order.id)
            left = _units_left(lines, [r for r in await _others(uow, order.id) if r.id != req.id])
            req.quantity = sum(max(n, 0) for n in left.values())
            req.order_line_id = None
        await _units_back(uow, gate, order, req)
    await _send_refund(uow, order, req, actor_id)


async def _units_back(uow: UnitOfWork, gate: StockGate, order: Order, req: RefundRequest) -> None:
    if req.quantity <= 0:
        return
    lines = await order_refunds.order_lines(uow, order.id)
    left = _units_left(lines, [r for r in await _others(uow, order.id) if r.id != req.id])
    wanted = req.quantity
    per_line: dict[int, int] = {}
    for line in lines:
        if req.order_line_id is not None and line.id != req.order_line_id:
            continue
        units = min(wanted, max(left.get(line.id, 0), 0))
        if units:
            per_line[line.id] = units
            wanted -= units
    await order_refunds.units_back(uow, gate, order, per_line)
    req.returned_lines = {str(k): v for k, v in per_line.items()}


async def _send_refund(uow: UnitOfWork, order: Order, req: RefundRequest, actor_id: int | None) -> None:
    """Ask payments for the refund (the relay calls the provider after commit, outside any lock)."""
    payment = await payments.payment_paying(uow, order.id)
    if payment is None:
        raise e.NotRefundable(N_("This order has no payment to refund."))
    amount = min(req.amount_fen, order_refunds.refundable_fen(order))
    if amount <= 0:
        raise e.NotRefundable(N_("Nothing is left to refund on this order."))
    req.amount_fen = amount
    refund = payments.request_refund(
        uow, payment, amount, f"after-sales {req.id}: {req.reason.value}", actor_id=actor_id
    )
    await uow.session.flush()
    req.refund_id = refund.id
    req.state = RefundRequestState.REFUNDING
    order_refunds.refund_started(uow, order, actor_id, amount)
    _audit(uow, actor_id, "refund.send", req, amount_fen=amount, out_refund_no=refund.out_refund_no)
    _emit(uow, req)
