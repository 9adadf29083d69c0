"""The arithmetic of coupons (commerce/coupons/discount.py), for each kind: examples that pin the
rounding rule (the discount is rounded down to the fen), and properties over any terms and any
subtotal: the discount is never negative and never reaches the subtotal (an order costs at
least 1 fen), and nothing comes off below the minimum spend."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fieldcast.commerce.coupons.discount import (
    BasketLine,
    BasketOrder,
    Scope,
    Terms,
    best_order,
    discount_fen,
    eligible_fen,
)
from fieldcast.commerce.coupons.models import AMOUNT_MAX_FEN, CouponKind, CouponScope

FIXED = CouponKind.FIXED
PERCENT = CouponKind.PERCENT
THRESHOLD = CouponKind.THRESHOLD


def test_a_fixed_coupon_takes_its_amount_off() -> None:
    assert discount_fen(Terms(FIXED, amount_off_fen=500), 7900) == 500
    assert discount_fen(Terms(FIXED, amount_off_fen=500, min_spend_fen=7901), 7900) == 0


def test_a_fixed_coupon_larger_than_the_order_leaves_one_fen_to_pay() -> None:
    assert discount_fen(Terms(FIXED, amount_off_fen=10_000), 3900) == 3899
    assert discount_fen(Terms(FIXED, amount_off_fen=10_000), 1) == 0


def test_a_percentage_is_rounded_down_to_the_fen_and_capped() -> None:
    # 15 % of ¥39.99 is 599.85 fen: the buyer gets 599 fen off, never a fraction rounded up.
    assert discount_fen(Terms(PERCENT, percent_off=15, cap_fen=10_000), 3999) == 599
    assert discount_fen(Terms(PERCENT, percent_off=10, cap_fen=500), 7900) == 500  # 790 capped at 500
    assert discount_fen(Terms(PERCENT, percent_off=10, cap_fen=500, min_spend_fen=10_000), 7900) == 0


def test_a_spend_threshold_takes_off_only_from_the_threshold_on() -> None:
    terms = Terms(THRESHOLD, amount_off_fen=1000, min_spend_fen=9900)  # 满99减10
    assert discount_fen(terms, 9899) == 0
    assert discount_fen(terms, 9900) == 1000
    assert discount_fen(terms, 20_000) == 1000


terms_strategy = st.builds(
    Terms,
    kind=st.sampled_from(list(CouponKind)),
    amount_off_fen=st.integers(0, AMOUNT_MAX_FEN),
    percent_off=st.integers(0, 99),
    cap_fen=st.integers(0, AMOUNT_MAX_FEN),
    min_spend_fen=st.integers(0, AMOUNT_MAX_FEN),
)


@given(terms=terms_strategy, subtotal=st.integers(0, 10 * AMOUNT_MAX_FEN))
def test_the_discount_is_never_negative_and_never_reaches_the_subtotal(terms: Terms, subtotal: int) -> None:
    off = discount_fen(terms, subtotal)
    assert isinstance(off, int)
    assert off >= 0
    assert off < subtotal or off == 0  # at least 1 fen is left to pay
    assert off <= subtotal
    if subtotal < terms.min_spend_fen:
        assert off == 0
    if terms.kind is PERCENT:
        assert off * 100 <= subtotal * terms.percent_off  # rounded down, never up
        if terms.cap_fen:
            assert off <= terms.cap_fen
    else:
        assert off <= terms.amount_off_fen


@given(
    terms=terms_strategy,
    totals=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 100_000)), min_size=1, max_size=6),
    scope=st.sampled_from(list(CouponScope)),
)
def test_a_coupon_comes_off_one_order_and_never_more_than_it_applies_to(
    terms: Terms, totals: list[tuple[int, int, int]], scope: CouponScope
) -> None:
    orders = [
        BasketOrder(supplier, 10 + supplier, [BasketLine(product, 7 if product % 2 else None, fen)])
        for supplier, product, fen in totals
    ]
    merged: dict[int, list[BasketLine]] = {}
    for order in orders:
        merged.setdefault(order.key, []).extend(order.lines)
    orders = [BasketOrder(key, 10 + key, lines) for key, lines in merged.items()]
    where = Scope(scope, organisation_id=11, session_id=7, product_id=3)
    best = best_order(where, terms, orders)
    if best is None:
        assert all(discount_fen(terms, eligible_fen(where, o)) == 0 for o in orders)
        return
    key, off = best
    order = next(o for o in orders if o.key == key)
    assert 0 < off < sum(x.total_fen for x in order.lines)
    assert off == max(discount_fen(terms, eligible_fen(where, o)) for o in orders)
