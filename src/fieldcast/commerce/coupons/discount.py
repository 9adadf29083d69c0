"""The arithmetic of a coupon, in integer fen, with no database: what it takes off a subtotal.

Rules (the same for every kind):
- below the minimum spend (min_spend_fen; for 满减 the threshold) it takes nothing off;
- fixed and 满减: amount_off_fen; percent: subtotal × percent_off / 100 **rounded down** to the
  fen, then at most cap_fen (0 = no cap);
- never more than the subtotal less 1 fen: an order always costs at least ¥0.01, since a
  payment of nothing cannot be made (and the payment provider refuses 0);
- so the discount is always 0 <= discount < subtotal (0 for a subtotal of 0)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fieldcast.commerce.coupons.models import CouponKind, CouponScope


@dataclass(frozen=True)
class Terms:
    """What a batch takes off, and when (its money terms only)."""

    kind: CouponKind
    amount_off_fen: int = 0
    percent_off: int = 0
    cap_fen: int = 0
    min_spend_fen: int = 0


def discount_fen(terms: Terms, subtotal_fen: int) -> int:
    """What the coupon takes off `subtotal_fen` (see the module's rules)."""
    if subtotal_fen <= 0 or subtotal_fen < terms.min_spend_fen:
        return 0
    if terms.kind is CouponKind.PERCENT:
        off = subtotal_fen * terms.percent_off // 100  # rounded down: the buyer never gets a fraction
        if terms.cap_fen > 0:
            off = min(off, terms.cap_fen)
    else:
        off = terms.amount_off_fen
    return max(0, min(off, subtotal_fen - 1))


@dataclass(frozen=True)
class BasketLine:
    """A line of an order about to be placed, as a coupon sees it."""

    product_id: int
    session_id: int | None  # the live room it is bought in (at the live price), if any
    total_fen: int


@dataclass(frozen=True)
class BasketOrder:
    """The lines of one order (one supplier) and the organisation of that supplier (the store)."""

    key: int  # the supplier's id: checkout makes one order per supplier
    organisation_id: int
    lines: Sequence[BasketLine]


@dataclass(frozen=True)
class Scope:
    scope: CouponScope
    organisation_id: int
    session_id: int | None
    product_id: int | None


def eligible_fen(scope: Scope, order: BasketOrder) -> int:
    """The part of an order the coupon applies to."""
    if scope.scope is CouponScope.STORE:
        return sum(x.total_fen for x in order.lines) if order.organisation_id == scope.organisation_id else 0
    if scope.scope is CouponScope.PRODUCT:
        return sum(x.total_fen for x in order.lines if x.product_id == scope.product_id)
    return sum(x.total_fen for x in order.lines if x.session_id is not None and x.session_id == scope.session_id)


def best_order(scope: Scope, terms: Terms, orders: Sequence[BasketOrder]) -> tuple[int, int] | None:
    """(order key, discount) where the coupon takes the most off; None when it applies nowhere.
    A coupon is taken off one order: the one it saves the most on (the first such, by key)."""
    found: tuple[int, int] | None = None
    for order in sorted(orders, key=lambda o: o.key):
        off = discount_fen(terms, eligible_fen(scope, order))
        if off > 0 and (found is None or off > found[1]):
            found = (order.key, off)
    return found
