"""The integrity rules: each a small function over stored rows of one show, returning what it
found (a Finding per subject) with the rows and figures that triggered it as evidence. They write
nothing; `actions.run_rules` stores what they find as alerts, once per rule and subject.

Rule ids are stable (they key the alerts and name the rule in the catalogue and the ledger)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import HostKind, HostVerification, Membership, VerificationStatus
from fieldcast.aftersales.models import RefundRequest, RefundRequestState
from fieldcast.catalog.models import Sku
from fieldcast.commerce.models import Order
from fieldcast.config import Settings
from fieldcast.integrity import rules_orders as ro
from fieldcast.integrity.findings import Finding as Finding  # re-exported: rules.Finding, as before
from fieldcast.integrity.models import Severity, SubjectKind
from fieldcast.integrity.rules_officials import (
    OFFICIAL_CREDITED,
    claim_in_host_chat,
    draw_won_by_organisation,
    negative_removed,
    official_credited,
)
from fieldcast.integrity.rules_orders import ORDER_RULES
from fieldcast.integrity.rules_traffic import TRAFFIC_RULES
from fieldcast.live.models import LiveSession, SessionHost, ShelfItem

OFFICIAL_NOT_WELFARE = "official_host_not_public_welfare"
BELOW_COST = "live_price_below_cost"
REFUNDS_AFTER_SHOW = "refunds_after_show"
MEMBER_BUYER = "member_of_selling_organisation"
ROUND_QUOTA = "round_quota"

# Rules about officials: an open one of these withholds the ledger's "officials took no pay" line.
OFFICIALS_RULES = frozenset({OFFICIAL_NOT_WELFARE, OFFICIAL_CREDITED})

# A refund request in one of these was refused: no money went back.
REFUSED = (RefundRequestState.REJECTED, RefundRequestState.CLOSED)


@dataclass(frozen=True)
class Thresholds:
    refund_window_days: int = 7
    refund_share: float = 0.3
    refund_min_orders: int = 5
    quota_fen: tuple[int, ...] = (5000, 10000, 20000, 50000)
    quota_min_buyers: int = 5
    # rules_orders.py: who bought and how orders were placed (see config.py for the defaults' why)
    org_min_buyers: int = 5
    org_share: float = 0.3
    domain_min_buyers: int = 5
    domain_share: float = 0.3
    address_min_buyers: int = 5
    new_account_hours: int = 48
    new_account_min_buyers: int = 5
    new_account_share: float = 0.3
    restage_window_minutes: int = 30
    restage_min_pairs: int = 3
    restage_share: float = 0.02
    large_order_units: int = 50
    large_order_fen: int = 500_000
    negative_rating_max: int = 2
    # Fake traffic (rules_traffic.py; the settings say why each default).
    heartbeat_grace_s: float = 30.0
    silent_share: float = 0.5
    silent_min_connections: int = 10
    burst_joins: int = 15
    burst_window_s: float = 10.0
    unsupported_share: float = 0.3
    unsupported_min_viewers: int = 10
    like_rate_per_s: float = 4.0
    like_min_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            refund_window_days=settings.integrity_refund_window_days,
            refund_share=settings.integrity_refund_share,
            refund_min_orders=settings.integrity_refund_min_orders,
            quota_fen=tuple(settings.integrity_quota_fen),
            quota_min_buyers=settings.integrity_quota_min_buyers,
            org_min_buyers=settings.integrity_org_min_buyers,
            org_share=settings.integrity_org_share,
            domain_min_buyers=settings.integrity_domain_min_buyers,
            domain_share=settings.integrity_domain_share,
            address_min_buyers=settings.integrity_address_min_buyers,
            new_account_hours=settings.integrity_new_account_hours,
            new_account_min_buyers=settings.integrity_new_account_min_buyers,
            new_account_share=settings.integrity_new_account_share,
            restage_window_minutes=settings.integrity_restage_window_minutes,
            restage_min_pairs=settings.integrity_restage_min_pairs,
            restage_share=settings.integrity_restage_share,
            large_order_units=settings.integrity_large_order_units,
            large_order_fen=settings.integrity_large_order_fen,
            negative_rating_max=settings.integrity_negative_review_max_rating,
            heartbeat_grace_s=settings.integrity_heartbeat_grace_s,
            silent_share=settings.integrity_silent_share,
            silent_min_connections=settings.integrity_silent_min_connections,
            burst_joins=settings.integrity_burst_joins,
            burst_window_s=settings.integrity_burst_window_s,
            unsupported_share=settings.integrity_unsupported_share,
            unsupported_min_viewers=settings.integrity_unsupported_min_viewers,
            like_rate_per_s=settings.integrity_like_rate_per_s,
            like_min_s=settings.integrity_like_min_s,
        )


Rule = Callable[[AsyncSession, LiveSession, Thresholds], Awaitable[list[Finding]]]


def _paid(session_id: int) -> list[sa.ColumnElement[bool]]:
    return [Order.session_id == session_id, Order.paid_at.is_not(None)]


async def official_host_not_public_welfare(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """An official host (an approved verification of kind "official", however old) in a show not
    marked public welfare. Scheduling forbids it; this catches what got past (a verification
    approved after the show was scheduled, a row changed by hand)."""
    if live.is_public_welfare:
        return []
    rows = (
        await s.execute(
            sa.select(HostVerification.user_id, HostVerification.position_title, HostVerification.jurisdiction)
            .join(SessionHost, SessionHost.user_id == HostVerification.user_id)
            .where(
                SessionHost.session_id == live.id,
                HostVerification.host_kind == HostKind.OFFICIAL,
                HostVerification.status == VerificationStatus.APPROVED,
            )
            .order_by(HostVerification.user_id)
        )
    ).all()
    if not rows:
        return []
    hosts = [{"user_id": r.user_id, "position_title": r.position_title, "jurisdiction": r.jurisdiction} for r in rows]
    return [
        Finding(
            OFFICIAL_NOT_WELFARE,
            Severity.HIGH,
            SubjectKind.SESSION,
            live.id,
            {"is_public_welfare": False, "official_hosts": hosts},
        )
    ]


async def live_price_below_cost(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """A shelf item's live price below its SKU's declared unit cost ("sold below cost for the
    leader's face"). SKUs without a declared cost are not judged."""
    rows = (
        await s.execute(
            sa.select(ShelfItem.sku_id, ShelfItem.live_price_fen, Sku.unit_cost_fen)
            .join(Sku, Sku.id == ShelfItem.sku_id)
            .where(
                ShelfItem.session_id == live.id,
                Sku.unit_cost_fen.is_not(None),
                ShelfItem.live_price_fen < Sku.unit_cost_fen,
            )
            .order_by(ShelfItem.sku_id)
        )
    ).all()
    if not rows:
        return []
    items = [{"sku_id": r.sku_id, "live_price_fen": r.live_price_fen, "unit_cost_fen": r.unit_cost_fen} for r in rows]
    return [Finding(BELOW_COST, Severity.HIGH, SubjectKind.SESSION, live.id, {"items": items})]


async def refunds_after_show(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """Orders placed during the show and refunded after it: the share of the show's paid orders
    with a refund asked for (and not refused) within `refund_window_days` after the end, above
    `refund_share`, once the show has `refund_min_orders` paid orders."""
    if live.ended_at is None:
        return []
    paid = list((await s.scalars(sa.select(Order.id).where(*_paid(live.id)).order_by(Order.id))).all())
    if len(paid) < t.refund_min_orders:
        return []
    window_end = live.ended_at + timedelta(days=t.refund_window_days)
    refunded = sorted(
        set(
            (
                await s.scalars(
                    sa.select(RefundRequest.order_id).where(
                        RefundRequest.order_id.in_(paid),
                        RefundRequest.created_at >= live.ended_at,
                        RefundRequest.created_at <= window_end,
                        RefundRequest.state.not_in(REFUSED),
                    )
                )
            ).all()
        )
    )
    share = len(refunded) / len(paid)
    if share <= t.refund_share:
        return []
    evidence = {
        "paid_orders": len(paid),
        "refunded_orders": refunded,
        "share": round(share, 4),
        "threshold": t.refund_share,
        "window_days": t.refund_window_days,
        "ended_at": live.ended_at.isoformat(),
    }
    return [Finding(REFUNDS_AFTER_SHOW, Severity.HIGH, SubjectKind.SESSION, live.id, evidence)]


async def member_buyers(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """Orders of the show by people who hold a role in the selling organisation: its own staff
    buying its own show is how quotas and faked sales look from the inside. One alert per order."""
    rows = (
        await s.execute(
            sa.select(Order.id, Order.buyer_id, Order.total_fen, Membership.role)
            .join(
                Membership,
                sa.and_(Membership.user_id == Order.buyer_id, Membership.organisation_id == Order.organisation_id),
            )
            .where(*_paid(live.id))
            .order_by(Order.id, Membership.role)
        )
    ).all()
    roles: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    for r in rows:
        roles[(r.id, r.buyer_id, r.total_fen)].append(str(r.role))
    return [
        Finding(
            MEMBER_BUYER,
            Severity.MEDIUM,
            SubjectKind.ORDER,
            order_id,
            {
                "buyer_id": buyer_id,
                "total_fen": total,
                "roles": sorted(set(r)),
                "organisation_id": live.organisation_id,
            },
        )
        for (order_id, buyer_id, total), r in roles.items()
    ]


async def round_quota(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """Forced apportionment (摊派): at least `quota_min_buyers` buyers whose paid totals for the
    show fall in [Q, Q×1.1) for one round quota Q. One alert for the show, naming the quota."""
    totals = (
        await s.execute(
            sa.select(Order.buyer_id, sa.func.sum(Order.total_fen).label("total"))
            .where(*_paid(live.id))
            .group_by(Order.buyer_id)
            .order_by(Order.buyer_id)
        )
    ).all()
    for quota in sorted(t.quota_fen):
        upper = quota + quota // 10
        near = [{"buyer_id": r.buyer_id, "total_fen": int(r.total)} for r in totals if quota <= int(r.total) < upper]
        if len(near) >= t.quota_min_buyers:
            evidence = {"quota_fen": quota, "upper_fen": upper, "buyers": near, "all_buyers": len(totals)}
            return [Finding(ROUND_QUOTA, Severity.HIGH, SubjectKind.SESSION, live.id, evidence)]
    return []


RULES: tuple[Rule, ...] = (
    official_host_not_public_welfare,
    live_price_below_cost,
    refunds_after_show,
    member_buyers,
    round_quota,
    *ORDER_RULES,
    *TRAFFIC_RULES,
    # rules_officials.py
    official_credited,
    draw_won_by_organisation,
    claim_in_host_chat,
    negative_removed,
)

# The rules that can judge a show while it is still on (watch.py runs them as orders arrive): not
# those that need the end (refunds after it, buyers who never came back, the whole audience) nor
# those that weigh a share of the show's buyers, which the first minutes' few buyers would skew
# (an alert, once raised, stays).
LIVE_RULES: tuple[Rule, ...] = (
    official_host_not_public_welfare,
    live_price_below_cost,
    member_buyers,
    round_quota,
    ro.buyers_one_address,
    ro.large_orders_never_paid,
    official_credited,
    draw_won_by_organisation,
    claim_in_host_chat,
)
