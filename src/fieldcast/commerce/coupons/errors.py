"""Coupons' domain errors, with stable codes (mapped to problem+json in one place)."""

from __future__ import annotations

from fieldcast.errors import Conflict, Invalid, NotAllowed


class CouponsGone(Conflict):
    code = "coupons_all_claimed"


class AlreadyClaimed(Conflict):
    code = "coupon_already_claimed"


class ClaimClosed(Conflict):
    """Outside the batch's claim window (not open yet, or over)."""

    code = "coupon_claim_closed"


class CouponNotUsable(Conflict):
    """Not the buyer's, already used, past its use-by time, or not for what is being bought."""

    code = "coupon_not_usable"


class BadCoupon(Invalid):
    code = "bad_coupon"


class MayNotIssue(NotAllowed):
    code = "may_not_issue_coupons"
