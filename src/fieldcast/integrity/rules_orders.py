"""Integrity rules over a show's orders and the people behind them: who bought (one organisation,
one mail domain, one address or payer, fresh accounts that bought once), and how orders were
placed and dropped (cancel-and-replace in bulk, large orders never paid).

Each is a rule of rules.py's kind (same signature, registered in its RULES) and, like those,
writes nothing. rules.py imports this module to register them, so this one does not import
rules.py: the thresholds are read through `OrderThresholds`, which rules.Thresholds satisfies.

The soft signals (organisation, domain, new accounts) are medium; the ones that take deliberate
staging (one address or payer, re-staged orders, large orders never paid) are high."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import Membership, Organisation, User
from fieldcast.commerce.addresses import mask_phone, normalise_phone
from fieldcast.commerce.errors import BadPhone
from fieldcast.commerce.models import Order, OrderLine, OrderState
from fieldcast.integrity.findings import Finding
from fieldcast.integrity.models import Severity, SubjectKind
from fieldcast.live.models import LiveSession
from fieldcast.payments.models import NotificationOutcome, PaymentNotification, PaymentOrder

BUYERS_ONE_ORGANISATION = "buyers_one_organisation"
BUYERS_ONE_EMAIL_DOMAIN = "buyers_one_email_domain"
BUYERS_ONE_ADDRESS = "buyers_one_address"
NEW_ACCOUNTS_BUY_ONCE = "new_accounts_buy_once"
RESTAGED_ORDERS = "restaged_orders"
LARGE_ORDERS_NEVER_PAID = "large_orders_never_paid"

# Evidence lists are cut at this many entries; the full count is given beside each.
LIST_MAX = 20

# Mail domains anyone can sign up at: many buyers sharing one of these say nothing about who sent
# them. The big Chinese free providers (NetEase, Tencent, Sina, Sohu, the carriers' mailboxes) and
# the international ones buyers in China use. Data, not logic: add a provider here when it shows
# up as a false alarm. A domain not listed (a bureau's gov.cn, a company's own) is judged.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        # Tencent, NetEase, Sina, Sohu, Alibaba
        "qq.com",
        "vip.qq.com",
        "foxmail.com",
        "163.com",
        "126.com",
        "yeah.net",
        "188.com",
        "vip.163.com",
        "vip.126.com",
        "netease.com",
        "sina.com",
        "sina.cn",
        "sina.com.cn",
        "vip.sina.com",
        "sohu.com",
        "aliyun.com",
        "tom.com",
        "21cn.com",
        "263.net",
        "china.com",
        # the carriers' mailboxes
        "139.com",
        "189.cn",
        "wo.cn",
        "wo.com.cn",
        # international
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "live.cn",
        "msn.com",
        "yahoo.com",
        "yahoo.com.cn",
        "ymail.com",
        "icloud.com",
        "me.com",
        "proton.me",
        "protonmail.com",
        "mail.com",
        "gmx.com",
        "yandex.com",
        "aol.com",
    }
)

CLOSED_UNPAID = (OrderState.CANCELLED, OrderState.EXPIRED)


class OrderThresholds(Protocol):
    """The thresholds these rules read (fields of rules.Thresholds, set from `integrity_*` settings)."""

    @property
    def org_min_buyers(self) -> int: ...
    @property
    def org_share(self) -> float: ...
    @property
    def domain_min_buyers(self) -> int: ...
    @property
    def domain_share(self) -> float: ...
    @property
    def address_min_buyers(self) -> int: ...
    @property
    def new_account_hours(self) -> int: ...
    @property
    def new_account_min_buyers(self) -> int: ...
    @property
    def new_account_share(self) -> float: ...
    @property
    def restage_window_minutes(self) -> int: ...
    @property
    def restage_min_pairs(self) -> int: ...
    @property
    def restage_share(self) -> float: ...
    @property
    def large_order_units(self) -> int: ...
    @property
    def large_order_fen(self) -> int: ...


def _capped(items: Sequence[Any]) -> list[Any]:
    return list(items[:LIST_MAX])


def _paying(live: LiveSession) -> sa.Select[int]:
    """The show's paying buyers as a subquery for IN (a big show's thousands of ids are not
    sent as parameters: SQLite caps them)."""
    return sa.select(Order.buyer_id).where(Order.session_id == live.id, Order.paid_at.is_not(None))


async def _paying_buyers(s: AsyncSession, live: LiveSession) -> list[int]:
    """Buyers with at least one paid order in the show, by id."""
    return list((await s.scalars(_paying(live).distinct().order_by(Order.buyer_id))).all())


def _share(count: int, of: int) -> float:
    return round(count / of, 4) if of else 0.0


# -- many buyers from one outside organisation ----------------------------------------------------


async def buyers_one_organisation(s: AsyncSession, live: LiveSession, t: OrderThresholds) -> list[Finding]:
    """At least `org_min_buyers` of the show's paying buyers, and at least `org_share` of them,
    hold a role in one and the same organisation other than the seller (a county bureau whose
    staff were told to buy). The seller's own people are member_of_selling_organisation's."""
    buyers = await _paying_buyers(s, live)
    if len(buyers) < t.org_min_buyers:
        return []
    rows = (
        await s.execute(
            sa.select(Membership.organisation_id, Organisation.name, Membership.user_id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(Membership.user_id.in_(_paying(live)), Membership.organisation_id != live.organisation_id)
            .distinct()
            .order_by(Membership.organisation_id, Membership.user_id)
        )
    ).all()
    members: dict[tuple[int, str], list[int]] = defaultdict(list)
    for r in rows:
        members[(r.organisation_id, r.name)].append(r.user_id)
    found = []
    for (org_id, name), ids in members.items():
        if len(ids) >= t.org_min_buyers and len(ids) / len(buyers) >= t.org_share:
            found.append(
                {
                    "organisation_id": org_id,
                    "name": name,
                    "buyers": len(ids),
                    "buyer_ids": _capped(ids),
                    "share": _share(len(ids), len(buyers)),
                }
            )
    if not found:
        return []
    evidence = {
        "organisations": found,
        "paying_buyers": len(buyers),
        "min_buyers": t.org_min_buyers,
        "min_share": t.org_share,
    }
    return [Finding(BUYERS_ONE_ORGANISATION, Severity.MEDIUM, SubjectKind.SESSION, live.id, evidence)]


# -- many buyers from one private mail domain -------------------------------------------------------


def mail_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower().rstrip(".")


async def buyers_one_email_domain(s: AsyncSession, live: LiveSession, t: OrderThresholds) -> list[Finding]:
    """At least `domain_min_buyers` paying buyers, and at least `domain_share` of them, sign in
    with addresses at one mail domain that is not a public provider's (PUBLIC_MAIL_DOMAINS)."""
    buyers = await _paying_buyers(s, live)
    if len(buyers) < t.domain_min_buyers:
        return []
    rows = (await s.execute(sa.select(User.id, User.email).where(User.id.in_(_paying(live))).order_by(User.id))).all()
    by_domain: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        domain = mail_domain(r.email)
        if domain and domain not in PUBLIC_MAIL_DOMAINS:
            by_domain[domain].append(r.id)
    found = [
        {"domain": domain, "buyers": len(ids), "buyer_ids": _capped(ids), "share": _share(len(ids), len(buyers))}
        for domain, ids in sorted(by_domain.items())
        if len(ids) >= t.domain_min_buyers and len(ids) / len(buyers) >= t.domain_share
    ]
    if not found:
        return []
    evidence = {
        "domains": found,
        "paying_buyers": len(buyers),
        "min_buyers": t.domain_min_buyers,
        "min_share": t.domain_share,
    }
    return [Finding(BUYERS_ONE_EMAIL_DOMAIN, Severity.MEDIUM, SubjectKind.SESSION, live.id, evidence)]


# -- one address or one payer behind many buyers ---------------------------------------------------

_NOT_WORDS = re.compile(r"[\W_]+")


def phone_key(phone: str) -> str:
    """One spelling of a phone number (commerce's, else its digits), so that "+86 138-1234-1234"
    and "13812341234" are one."""
    try:
        return normalise_phone(phone)
    except BadPhone:  # stored before validation tightened, or typed by hand: digits will do
        return re.sub(r"\D", "", phone)


def street_key(region_code: str, street: str) -> str:
    """The county and the street line with width, case, spaces and punctuation folded away."""
    folded = _NOT_WORDS.sub("", unicodedata.normalize("NFKC", street).lower())
    return f"{region_code}:{folded}" if folded else ""


def payer_of(body: Mapping[str, Any]) -> str | None:
    """The payer's account as the provider's notification names it: WeChat Pay's decrypted
    resource carries payer.openid (sp_openid/sub_openid for service providers), Alipay's
    parameters buyer_open_id or buyer_id. The sandbox names none."""
    resource = body.get("resource")
    if isinstance(resource, Mapping):
        payer = resource.get("payer")
        if isinstance(payer, Mapping):
            for key in ("openid", "sp_openid", "sub_openid"):
                if isinstance(payer.get(key), str) and payer[key]:
                    return f"wechat:{payer[key]}"
    for key in ("buyer_open_id", "buyer_id"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return f"alipay:{value}"
    return None


@dataclass
class _Group:
    kind: str  # "phone", "street" or "payer"
    shown: str  # what the evidence shows (a masked phone)
    buyers: set[int]
    orders: set[int]


def _grouped(keyed: Iterable[tuple[str, str, str, int, int]], min_buyers: int) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], _Group] = {}
    for kind, key, shown, buyer, order in keyed:
        if not key:
            continue
        g = groups.setdefault((kind, key), _Group(kind, shown, set(), set()))
        g.buyers.add(buyer)
        g.orders.add(order)
    return [
        {
            "kind": g.kind,
            "value": g.shown,
            "buyers": len(g.buyers),
            "buyer_ids": _capped(sorted(g.buyers)),
            "orders": len(g.orders),
            "order_ids": _capped(sorted(g.orders)),
        }
        for (_kind, _key), g in sorted(groups.items())
        if len(g.buyers) >= min_buyers
    ]


async def buyers_one_address(s: AsyncSession, live: LiveSession, t: OrderThresholds) -> list[Finding]:
    """One shipping address (the recipient's phone, or the street line in its county) or one
    payer account (when the payment provider names one) behind at least `address_min_buyers`
    distinct buyers of the show's paid orders: sales booked under many accounts and sent to, or
    paid by, one party."""
    orders = (
        await s.execute(
            sa.select(Order.id, Order.buyer_id, Order.phone, Order.region_code, Order.street)
            .where(Order.session_id == live.id, Order.paid_at.is_not(None))
            .order_by(Order.id)
        )
    ).all()
    if len({o.buyer_id for o in orders}) < t.address_min_buyers:
        return []
    keyed: list[tuple[str, str, str, int, int]] = []
    for o in orders:
        phone = phone_key(o.phone)
        keyed.append(("phone", phone, mask_phone(phone), o.buyer_id, o.id))
        street = street_key(o.region_code, o.street)
        keyed.append(("street", street, f"{o.region_code} {o.street}", o.buyer_id, o.id))
    notices = (
        await s.execute(
            sa.select(Order.id, Order.buyer_id, PaymentNotification.body)
            .join(PaymentOrder, PaymentOrder.order_id == Order.id)
            .join(PaymentNotification, PaymentNotification.payment_id == PaymentOrder.payment_id)
            .where(
                Order.session_id == live.id,
                Order.paid_at.is_not(None),
                PaymentNotification.outcome == NotificationOutcome.APPLIED,
            )
            .order_by(Order.id)
        )
    ).all()
    for n in notices:
        payer = payer_of(n.body or {})
        if payer:
            keyed.append(("payer", payer, payer, n.buyer_id, n.id))
    groups = _grouped(keyed, t.address_min_buyers)
    if not groups:
        return []
    evidence = {"groups": groups, "min_buyers": t.address_min_buyers}
    return [Finding(BUYERS_ONE_ADDRESS, Severity.HIGH, SubjectKind.SESSION, live.id, evidence)]


# -- fresh accounts that bought once and were not seen again -------------------------------------


async def new_accounts_buy_once(s: AsyncSession, live: LiveSession, t: OrderThresholds) -> list[Finding]:
    """Paying buyers whose accounts were made at most `new_account_hours` before the show started
    (or during it), who placed no order outside this show and have not signed in since it ended:
    accounts made for the show's figures. At least `new_account_min_buyers` of them, and at
    least `new_account_share` of the paying buyers. A buyer who comes back (signs in after the
    end) drops out, so a later run can find fewer than the first did; the alert stays."""
    buyers = await _paying_buyers(s, live)
    if len(buyers) < t.new_account_min_buyers:
        return []
    start = live.started_at or live.scheduled_at
    since = start - timedelta(hours=t.new_account_hours)
    fresh = (
        await s.execute(
            sa.select(User.id, User.created_at, User.last_sign_in_at)
            .where(User.id.in_(_paying(live)), User.created_at >= since)
            .order_by(User.id)
        )
    ).all()
    if not fresh:
        return []
    elsewhere = set(
        (
            await s.scalars(
                sa.select(Order.buyer_id)
                .where(
                    Order.buyer_id.in_(sa.select(User.id).where(User.id.in_(_paying(live)), User.created_at >= since)),
                    sa.or_(Order.session_id.is_(None), Order.session_id != live.id),
                )
                .distinct()
            )
        ).all()
    )
    ended = live.ended_at
    came_back = {
        u.id for u in fresh if ended is not None and u.last_sign_in_at is not None and u.last_sign_in_at > ended
    }
    once = [u for u in fresh if u.id not in elsewhere and u.id not in came_back]
    if len(once) < t.new_account_min_buyers or len(once) / len(buyers) < t.new_account_share:
        return []
    evidence = {
        "buyers": len(once),
        "accounts": _capped([{"buyer_id": u.id, "created_at": u.created_at.isoformat()} for u in once]),
        "paying_buyers": len(buyers),
        "share": _share(len(once), len(buyers)),
        "ordered_elsewhere": len(elsewhere),
        "came_back": len(came_back),
        "started_at": start.isoformat(),
        "hours": t.new_account_hours,
        "min_buyers": t.new_account_min_buyers,
        "min_share": t.new_account_share,
    }
    return [Finding(NEW_ACCOUNTS_BUY_ONCE, Severity.MEDIUM, SubjectKind.SESSION, live.id, evidence)]


# -- orders cancelled and placed again, in bulk ----------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    id: int
    buyer_id: int
    state: OrderState
    paid: bool
    total_fen: int
    created_at: datetime
    closed_at: datetime | None
    lines: tuple[tuple[int, int], ...]  # (sku, quantity), sorted


def restaged_pairs(orders: Sequence[_Placed], window: timedelta) -> list[tuple[_Placed, _Placed]]:
    """Each order closed unpaid, paired with the buyer's next order of the same lines (SKUs and
    quantities) placed after it and no later than `window` after it closed. An order replaces
    at most one; a chain (placed, cancelled, placed, cancelled, placed) is two pairs."""
    by_buyer: dict[int, list[_Placed]] = defaultdict(list)
    for o in sorted(orders, key=lambda o: (o.created_at, o.id)):
        by_buyer[o.buyer_id].append(o)
    pairs = []
    for placed in by_buyer.values():
        used: set[int] = set()
        for n, old in enumerate(placed):
            if old.state not in CLOSED_UNPAID or old.paid:
                continue
            latest = (old.closed_at or old.created_at) + window
            for new in placed[n + 1 :]:
                if new.id in used or new.lines != old.lines:
                    continue
                if new.created_at > latest:
                    break
                used.add(new.id)
                pairs.append((old, new))
                break
    return pairs


async def _show_orders(s: AsyncSession, live: LiveSession) -> list[_Placed]:
    rows = (
        await s.execute(
            sa.select(
                Order.id,
                Order.buyer_id,
                Order.state,
                Order.paid_at,
                Order.total_fen,
                Order.created_at,
                Order.closed_at,
                OrderLine.sku_id,
                OrderLine.quantity,
            )
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.session_id == live.id)
            .order_by(Order.id, OrderLine.sku_id)
        )
    ).all()
    lines: dict[int, list[tuple[int, int]]] = defaultdict(list)
    first: dict[int, Any] = {}
    for r in rows:
        lines[r.id].append((r.sku_id, r.quantity))
        first.setdefault(r.id, r)
    return [
        _Placed(
            r.id,
            r.buyer_id,
            OrderState(r.state),
            r.paid_at is not None,
            r.total_fen,
            r.created_at,
            r.closed_at,
            tuple(sorted(lines[r.id])),
        )
        for r in first.values()
    ]


async def restaged_orders(s: AsyncSession, live: LiveSession, t: OrderThresholds) -> list[Finding]:
    """Deals re-staged to inflate the order count: orders cancelled (or left to expire) and placed
    again by the same buyer, same SKUs and quantities, within `restage_window_minutes` of the
    close. Raised when one party (a buyer, or the buyers holding a role in one organisation)
    re-staged at least `restage_min_pairs` orders, or when the show holds that many pairs and
    the buyers behind them are at least `restage_share` of its buyers (several people each
    doing it once); one or two ordinary cancel-and-reorders in a show stay below both."""
    orders = await _show_orders(s, live)
    pairs = restaged_pairs(orders, timedelta(minutes=t.restage_window_minutes))
    if len(pairs) < t.restage_min_pairs:
        return []
    per_buyer: dict[int, int] = defaultdict(int)
    for old, _new in pairs:
        per_buyer[old.buyer_id] += 1
    rows = (
        await s.execute(
            sa.select(Membership.organisation_id, Membership.user_id)
            .where(
                Membership.user_id.in_(sa.select(Order.buyer_id).where(Order.session_id == live.id)),
                Membership.organisation_id != live.organisation_id,
            )
            .distinct()
        )
    ).all()
    rows = [r for r in rows if r.user_id in per_buyer]
    org_buyers: dict[int, set[int]] = defaultdict(set)
    for r in rows:
        org_buyers[r.organisation_id].add(r.user_id)
    per_org = {org: sum(per_buyer[b] for b in ids) for org, ids in org_buyers.items()}
    all_buyers = len({o.buyer_id for o in orders})
    parties: list[dict[str, Any]] = [
        {"buyer_id": b, "pairs": n} for b, n in sorted(per_buyer.items()) if n >= t.restage_min_pairs
    ]
    parties += [
        {"organisation_id": org, "buyer_ids": sorted(org_buyers[org]), "pairs": n}
        for org, n in sorted(per_org.items())
        if n >= t.restage_min_pairs
    ]
    share = len(per_buyer) / all_buyers if all_buyers else 0.0
    if not parties and share < t.restage_share:
        return []
    listed = [
        {
            "buyer_id": old.buyer_id,
            "closed_order_id": old.id,
            "closed_state": old.state.value,
            "new_order_id": new.id,
            "total_fen": new.total_fen,
            "minutes_between": round(((new.created_at - (old.closed_at or old.created_at)).total_seconds()) / 60, 1),
        }
        for old, new in pairs
    ]
    evidence = {
        "pairs": len(pairs),
        "orders": _capped(listed),
        "buyers": len(per_buyer),
        "show_buyers": all_buyers,
        "share": _share(len(per_buyer), all_buyers),
        "parties": _capped(parties),
        "window_minutes": t.restage_window_minutes,
        "min_pairs": t.restage_min_pairs,
        "min_share": t.restage_share,
    }
    return [Finding(RESTAGED_ORDERS, Severity.HIGH, SubjectKind.SESSION, live.id, evidence)]


# -- large orders placed in the show and never paid ----------------------------------------------


async def large_orders_never_paid(s: AsyncSession, live: LiveSession, t: OrderThresholds) -> list[Finding]:
    """Large, B2B-sized orders (at least `large_order_units` units or `large_order_fen`) placed
    during the show and closed unpaid: the "a company just bought 10 tonnes" announced on camera
    that never became a sale. One alert per order: each is its own claim to check, an order
    still awaiting payment when the show ends is found by the run after the refund window once
    it has expired, and an order alert flags no paid money, so the show's honest sales keep
    their verified figure."""
    window = [Order.session_id == live.id, Order.paid_at.is_(None), Order.state.in_(CLOSED_UNPAID)]
    if live.started_at is not None:
        window.append(Order.created_at >= live.started_at)
    if live.ended_at is not None:
        window.append(Order.created_at <= live.ended_at)
    rows = (
        await s.execute(
            sa.select(Order.id, Order.buyer_id, Order.units, Order.total_fen, Order.state, Order.created_at)
            .where(*window, sa.or_(Order.units >= t.large_order_units, Order.total_fen >= t.large_order_fen))
            .order_by(Order.id)
        )
    ).all()
    return [
        Finding(
            LARGE_ORDERS_NEVER_PAID,
            Severity.HIGH,
            SubjectKind.ORDER,
            r.id,
            {
                "buyer_id": r.buyer_id,
                "units": r.units,
                "total_fen": r.total_fen,
                "state": OrderState(r.state).value,
                "created_at": r.created_at.isoformat(),
                "min_units": t.large_order_units,
                "min_fen": t.large_order_fen,
            },
        )
        for r in rows
    ]


ORDER_RULES = (
    buyers_one_organisation,
    buyers_one_email_domain,
    buyers_one_address,
    new_accounts_buy_once,
    restaged_orders,
    large_orders_never_paid,
)
