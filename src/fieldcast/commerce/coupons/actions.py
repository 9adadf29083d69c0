"""Writes of coupons, one per act: an organisation issues a batch, a viewer claims one, checkout
takes one off an order, and a closed unpaid order gives it back.

Who may issue (checked here, per organisation and role):
- a session coupon (applies to what is bought in one live room): the owners and organisers of the
  organisation running the show;
- a store or product coupon (applies to the store's orders, or one product): owners, organisers
  and supplier-role members of the organisation the store or product belongs to, since the store
  pays for the discount. Handed out in a live room only in a room of that same organisation.

Claiming never oversells a batch, with or without Redis, exactly as stock does not: one
transaction inserts the (batch, buyer) claim row (unique: one per buyer) and then takes one
coupon with a guarded `UPDATE … SET coupons_left = coupons_left - 1 WHERE coupons_left >= 1`;
either both happen or neither. A batch seen empty is refused before anything is written, so
latecomers of a rush cost one read. (No Redis gate: a claim is one short transaction on one row,
and a buyer claims a given batch once, so there is no per-buyer tally to spread.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.catalog.claims import check_fields, hits_for_log
from fieldcast.catalog.errors import ClaimsNeedOverride
from fieldcast.catalog.models import Product
from fieldcast.commerce.coupons import errors as e
from fieldcast.commerce.coupons import schemas as s
from fieldcast.commerce.coupons.discount import BasketOrder, Scope, Terms, best_order
from fieldcast.commerce.coupons.events import CouponLeft
from fieldcast.commerce.coupons.models import (
    AMOUNT_MAX_FEN,
    TOTAL_MAX,
    ClaimState,
    CouponBatch,
    CouponClaim,
    CouponKind,
    CouponScope,
)
from fieldcast.commerce.models import Order
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.live.models import LiveSession, SessionState

SESSION_ISSUERS = (Role.OWNER, Role.ORGANISER)
STORE_ISSUERS = (Role.OWNER, Role.ORGANISER, Role.SUPPLIER)
USE_AFTER_CLAIM = timedelta(days=7)  # default use-by: a week after the claim window closes
OPEN_ROOM_STATES = (SessionState.SCHEDULED, SessionState.LIVE)


def terms_of(batch: CouponBatch) -> Terms:
    return Terms(batch.kind, batch.amount_off_fen, batch.percent_off, batch.cap_fen, batch.min_spend_fen)


def scope_of(batch: CouponBatch) -> Scope:
    return Scope(batch.scope, batch.organisation_id, batch.session_id, batch.product_id)


def _audit(uow: UnitOfWork, actor_id: int | None, action: str, batch: CouponBatch, **details: object) -> None:
    record_audit(
        uow,
        actor_id=actor_id,
        action=action,
        target_type="coupon_batch",
        target_id=batch.id,
        organisation_id=batch.organisation_id,
        details=dict(details),
    )


def _emit_left(uow: UnitOfWork, batch: CouponBatch, left: int) -> None:
    if batch.session_id is not None:
        uow.emit(batch.session_id, CouponLeft(batch_id=batch.id, left=left, total=batch.total))


# -- issuing ---------------------------------------------------------------------------------------


def _check_terms(data: s.CouponBatchIn) -> None:
    for name in ("amount_off_fen", "cap_fen", "min_spend_fen"):
        if not 0 <= getattr(data, name) <= AMOUNT_MAX_FEN:
            raise e.BadCoupon(N_("Enter an amount between 0 and 100,000 yuan."), field=name)
    if data.kind is CouponKind.PERCENT:
        if not 1 <= data.percent_off <= 99:
            raise e.BadCoupon(N_("A percentage off is between 1 and 99."), field="percent_off")
        if data.cap_fen <= 0:
            raise e.BadCoupon(N_("A percentage coupon needs a cap: the most it takes off."), field="cap_fen")
        return
    if data.amount_off_fen <= 0:
        raise e.BadCoupon(N_("Enter how much the coupon takes off."), field="amount_off_fen")
    if data.kind is CouponKind.THRESHOLD and data.min_spend_fen <= data.amount_off_fen:
        raise e.BadCoupon(N_("The spend threshold must be more than the amount off."), field="min_spend_fen")


async def _room_of(uow: UnitOfWork, org: Organisation, session_id: int) -> LiveSession:
    live = await uow.session.get(LiveSession, session_id)
    if live is None or live.organisation_id != org.id:
        raise e.BadCoupon(N_("Choose one of this organisation's shows."), field="session_id")
    if live.state not in OPEN_ROOM_STATES:
        raise e.BadCoupon(N_("This show is over: coupons are handed out in shows to come or live."), field="session_id")
    return live


async def create_batch(
    uow: UnitOfWork, actor: User | None, org: Organisation, data: s.CouponBatchIn, *, is_demo: bool = False
) -> CouponBatch:
    """Issue a batch of coupons (see the module for who may)."""
    user = require_user(actor)
    issuers = SESSION_ISSUERS if data.scope is CouponScope.SESSION else STORE_ISSUERS
    await require_org_role(uow.session, user, org.id, *issuers)
    _check_terms(data)
    claims = check_fields({"title": data.title})
    override = data.claims_override_reason.strip() if claims else ""
    if claims and not override:
        raise ClaimsNeedOverride(
            N_(
                "This text has wording the Advertising Law forbids (%(terms)s). Fix it, or give a reason to use it "
                "anyway."
            ),
            field="title",
            terms="、".join(h.term for h in claims["title"]),
        )
    if data.scope is CouponScope.SESSION and data.session_id is None:
        raise e.BadCoupon(N_("Choose the show the coupon is for."), field="session_id")
    if data.session_id is not None:
        await _room_of(uow, org, data.session_id)
    product_id = None
    if data.scope is CouponScope.PRODUCT:
        product = await uow.session.get(Product, data.product_id) if data.product_id is not None else None
        if product is None or product.organisation_id != org.id:
            raise e.BadCoupon(N_("Choose one of this organisation's products."), field="product_id")
        product_id = product.id
    if not 1 <= data.total <= TOTAL_MAX:
        raise e.BadCoupon(N_("Issue between 1 and %(n)s coupons."), field="total", n=TOTAL_MAX)
    now = utcnow()
    starts = data.claim_starts_at or now
    if data.claim_ends_at <= starts or data.claim_ends_at <= now:
        raise e.BadCoupon(N_("The claim window must end after it starts, in the future."), field="claim_ends_at")
    use_until = data.use_until or data.claim_ends_at + USE_AFTER_CLAIM
    if use_until < data.claim_ends_at:
        raise e.BadCoupon(N_("Coupons must stay usable at least until claiming ends."), field="use_until")
    batch = CouponBatch(
        organisation_id=org.id,
        created_by_id=user.id,
        title=data.title,
        kind=data.kind,
        amount_off_fen=data.amount_off_fen if data.kind is not CouponKind.PERCENT else 0,
        percent_off=data.percent_off if data.kind is CouponKind.PERCENT else 0,
        cap_fen=data.cap_fen if data.kind is CouponKind.PERCENT else 0,
        min_spend_fen=data.min_spend_fen,
        scope=data.scope,
        session_id=data.session_id,
        product_id=product_id,
        total=data.total,
        coupons_left=data.total,
        claim_starts_at=starts,
        claim_ends_at=data.claim_ends_at,
        use_until=use_until,
        is_demo=is_demo,
    )
    uow.session.add(batch)
    await uow.session.flush()
    _audit(
        uow,
        user.id,
        "coupon.batch_create",
        batch,
        kind=batch.kind.value,
        scope=batch.scope.value,
        total=batch.total,
        amount_off_fen=batch.amount_off_fen,
        percent_off=batch.percent_off,
        cap_fen=batch.cap_fen,
        min_spend_fen=batch.min_spend_fen,
        **({"claims": hits_for_log(claims), "claims_override_reason": override} if claims else {}),
    )
    _emit_left(uow, batch, batch.coupons_left)
    return batch


# -- claiming --------------------------------------------------------------------------------------


async def claim(
    uow: UnitOfWork, actor: User | None, batch_id: int, *, now: datetime | None = None, is_demo: bool = False
) -> CouponClaim:
    """One coupon of the batch for the signed-in viewer: one per viewer, within the claim
    window, never more than the batch holds."""
    user = require_user(actor)
    moment = now or utcnow()
    batch = await uow.session.get(CouponBatch, batch_id)
    if batch is None:
        raise NotFound(N_("No such coupon."))
    if moment < batch.claim_starts_at:
        raise e.ClaimClosed(N_("These coupons cannot be claimed yet."), field="batch_id")
    if moment >= batch.claim_ends_at:
        raise e.ClaimClosed(N_("Claiming these coupons has ended."), field="batch_id")
    if batch.coupons_left <= 0:  # a rush's latecomers: answered from one read, nothing written
        raise e.CouponsGone(N_("All these coupons have been claimed."), field="batch_id")
    insert = pg_insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    claim_id = await uow.session.scalar(
        insert(CouponClaim)
        .values(batch_id=batch.id, user_id=user.id, state=ClaimState.AVAILABLE, claimed_at=moment, is_demo=is_demo)
        .on_conflict_do_nothing(index_elements=["batch_id", "user_id"])
        .returning(CouponClaim.id)
    )
    if claim_id is None:
        raise e.AlreadyClaimed(N_("You already have this coupon."), field="batch_id")
    left = await uow.session.scalar(
        sa.update(CouponBatch)
        .where(CouponBatch.id == batch.id, CouponBatch.coupons_left >= 1)
        .values(coupons_left=CouponBatch.coupons_left - 1)
        .returning(CouponBatch.coupons_left)
        .execution_options(synchronize_session=False)
    )
    if left is None:  # someone took the last one between the read and here: the claim row goes too
        raise e.CouponsGone(N_("All these coupons have been claimed."), field="batch_id")
    record_audit(
        uow,
        actor_id=user.id,
        action="coupon.claim",
        target_type="coupon_claim",
        target_id=claim_id,
        organisation_id=batch.organisation_id,
        details={"batch_id": batch.id, "left": left},
    )
    _emit_left(uow, batch, left)
    found = await uow.session.get(CouponClaim, claim_id)
    if found is None:  # just inserted in this transaction
        raise NotFound(N_("No such coupon."))
    return found


# -- using at checkout, and giving back -------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """A claimed coupon as it would apply to a checkout: the order it comes off and how much."""

    claim: CouponClaim
    batch: CouponBatch
    order_key: int | None  # None: it applies to nothing here (scope, minimum spend)
    discount_fen: int


def options_for(claims: Sequence[tuple[CouponClaim, CouponBatch]], orders: Sequence[BasketOrder]) -> list[Option]:
    """Each usable coupon against these orders, the best saving first (ties: the one expiring first)."""
    out = []
    for found, batch in claims:
        best = best_order(scope_of(batch), terms_of(batch), orders)
        out.append(Option(found, batch, best[0] if best else None, best[1] if best else 0))
    out.sort(key=lambda o: (-o.discount_fen, o.batch.use_until, o.claim.id))
    return out


@dataclass(frozen=True)
class Redeemed:
    claim_id: int
    batch: CouponBatch
    order_key: int
    discount_fen: int


async def redeem(
    uow: UnitOfWork, buyer_id: int, claim_id: int, orders: Sequence[BasketOrder], now: datetime
) -> Redeemed:
    """Take the buyer's coupon for this checkout: it must be theirs, unused, not past its use-by
    time, and apply to one of the orders (scope and minimum spend). Marked used with a guarded
    UPDATE, so two checkouts cannot both use it. Two queries."""
    row = (
        await uow.session.execute(
            sa.select(CouponClaim, CouponBatch)
            .join(CouponBatch, CouponBatch.id == CouponClaim.batch_id)
            .where(CouponClaim.id == claim_id)
        )
    ).first()
    if row is None or row[0].user_id != buyer_id:
        raise e.CouponNotUsable(N_("Choose one of your coupons."), field="coupon_claim_id")
    found, batch = row
    if found.state != ClaimState.AVAILABLE:
        raise e.CouponNotUsable(N_("This coupon has been used."), field="coupon_claim_id")
    if batch.use_until <= now:
        raise e.CouponNotUsable(N_("This coupon has expired."), field="coupon_claim_id")
    best = best_order(scope_of(batch), terms_of(batch), orders)
    if best is None:
        raise e.CouponNotUsable(
            N_("This coupon does not apply to this order (what it is for, or the minimum spend)."),
            field="coupon_claim_id",
        )
    taken = await uow.session.execute(
        sa.update(CouponClaim)
        .where(CouponClaim.id == claim_id, CouponClaim.state == ClaimState.AVAILABLE)
        .values(state=ClaimState.USED, used_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(taken, "rowcount", 0) or 0) != 1:
        raise e.CouponNotUsable(N_("This coupon has been used."), field="coupon_claim_id")
    return Redeemed(claim_id, batch, best[0], best[1])


async def give_back(uow: UnitOfWork, order: Order) -> None:
    """An unpaid order closed (cancelled, expired): its coupon is the buyer's to use again (until
    its use-by time). The caller holds the order's lock; the claim's guarded UPDATE makes a
    repeat harmless."""
    if order.coupon_claim_id is None:
        return
    result = await uow.session.execute(
        sa.update(CouponClaim)
        .where(CouponClaim.id == order.coupon_claim_id, CouponClaim.state == ClaimState.USED)
        .values(state=ClaimState.AVAILABLE, used_at=None)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0) or 0) == 1:
        record_audit(
            uow,
            actor_id=None,
            action="coupon.return",
            target_type="coupon_claim",
            target_id=order.coupon_claim_id,
            organisation_id=order.organisation_id,
            details={"order_id": order.id, "order_state": order.state.value},
        )
