"""Integrity rules about the people around a show rather than its sales: officials paid for it,
prizes won by the seller's own people, unlawful claims by its hosts, and criticism removed by the
seller. Same shape as rules.py (a function over stored rows of one show, writing nothing); they are
registered in rules.RULES.

- official_credited: an official (an approved verification of kind "official", however old) may
  take no pay of any kind, so any credit recorded for the show to one (commission, payout, gift;
  any amount) is found. One alert per credit (subject: the credit): each is a separate payment
  that a person decides on its own, and a gift recorded after an earlier one was judged a false
  alarm must still raise an alert, which an alert per show could not. It is about money paid
  out, not sales, so it flags no order in verified GMV; it withholds the ledger's "officials took
  no pay" statement (rules.OFFICIALS_RULES). Integrity also runs it as each credit is recorded.
- draw_won_by_organisation: a winner of one of the show's draws who holds a role (any) in the
  show's organisation or in an organisation whose products are on its shelf, or who hosts the
  show. One alert per draw.
- claim_in_host_chat: the claim checker (catalog.claims) over what the show's hosts and operators
  said in its chat (messages posted with the host badge, removed or not: they were said) and over
  the published texts (title, description) of the products on its shelf. One alert per show: the
  sales were made under those words, so it stands on the show like the other show-level rules.
- negative_removed: a negative comment or review removed by the seller's side. Removed chat
  messages of the show, and removed reviews of the show's orders, when the person who removed it
  holds a role (any) in the selling organisation (the show's, or the reviewed product's) or hosts
  the show. A removal by someone with no role there is the platform's moderation of unlawful
  content and is not counted; a removal by a member is counted even with a lawful-sounding
  reason, since the reason is the remover's own word: the alert shows it and a person decides.
  "Negative" is a heuristic: the text contains one of NEGATIVE_PHRASES (matched after NFKC and
  case folding, spaces ignored), or for a review a rating at or below `negative_rating_max`.
  One alert per message or review.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast import offload
from fieldcast.accounts.models import HostKind, HostVerification, Membership, VerificationStatus
from fieldcast.catalog.claims import ClaimHit, check_claims
from fieldcast.catalog.models import Product, ProductStatus, Sku
from fieldcast.chat.models import ChatMessage
from fieldcast.commerce.credits.models import HostCredit
from fieldcast.commerce.models import Order
from fieldcast.draws.models import DrawWinner, LuckyDraw
from fieldcast.integrity.findings import Finding
from fieldcast.integrity.models import Severity, SubjectKind
from fieldcast.live.models import LiveSession, SessionHost, ShelfItem
from fieldcast.reviews.models import Review


class Thresholds(Protocol):
    """What these rules read of rules.Thresholds (rules.py imports this module: no import back)."""

    @property
    def negative_rating_max(self) -> int: ...


OFFICIAL_CREDITED = "official_credited"
DRAW_WON_BY_ORGANISATION = "draw_won_by_organisation"
CLAIM_IN_HOST_CHAT = "claim_in_host_chat"
NEGATIVE_REMOVED = "negative_removed"

# Hosts of the show appear with this pseudo-role beside their roles in the organisation.
SESSION_HOST = "session_host"

# What buyers and viewers write when something went wrong (reviewed like code; matched as
# substrings of the normalised text, so keep each phrase specific: 不新鲜, never 新鲜).
NEGATIVE_PHRASES: tuple[str, ...] = (
    # the goods
    "难吃",
    "不好吃",
    "不新鲜",
    "坏了",
    "烂了",
    "烂的",
    "发霉",
    "霉了",
    "变质",
    "臭了",
    "有虫",
    "质量差",
    "太差",
    "缺斤少两",
    "以次充好",
    "货不对板",
    "和图片不一样",
    "与描述不符",
    # the seller
    "骗人",
    "骗子",
    "上当",
    "坑人",
    "假货",
    "假的",
    "不值",
    "别买",
    "差评",
    "投诉",
    "退款",
    "退货",
    "太慢",
    "还没发货",
    "不发货",
    # English
    "rotten",
    "mouldy",
    "moldy",
    "fake",
    "scam",
    "refund",
    "terrible",
    "disgusting",
)


def _normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace())


def negative_phrases(text: str) -> list[str]:
    """The NEGATIVE_PHRASES in `text`, in list order."""
    plain = _normalise(text)
    return [p for p in NEGATIVE_PHRASES if _normalise(p) in plain]


# -- who belongs to the seller ---------------------------------------------------------------------


async def _selling_organisations(s: AsyncSession, live: LiveSession) -> set[int]:
    """The show's organisation and those whose products are on its shelf."""
    shelf_orgs = await s.scalars(
        sa.select(Product.organisation_id)
        .join(Sku, Sku.product_id == Product.id)
        .join(ShelfItem, ShelfItem.sku_id == Sku.id)
        .where(ShelfItem.session_id == live.id)
    )
    return {live.organisation_id, *shelf_orgs}


async def _seller_roles(
    s: AsyncSession, live: LiveSession, user_ids: set[int], organisations: set[int] | None = None
) -> dict[int, list[str]]:
    """Each of `user_ids` who holds a role in one of the organisations (default: the selling ones)
    or hosts the show, with those roles (sorted; SESSION_HOST for a host of the show)."""
    if not user_ids:
        return {}
    orgs = organisations if organisations is not None else await _selling_organisations(s, live)
    roles: dict[int, set[str]] = defaultdict(set)
    for user_id, role in await s.execute(
        sa.select(Membership.user_id, Membership.role).where(
            Membership.user_id.in_(user_ids), Membership.organisation_id.in_(orgs)
        )
    ):
        roles[user_id].add(str(role))
    for user_id in await s.scalars(
        sa.select(SessionHost.user_id).where(SessionHost.session_id == live.id, SessionHost.user_id.in_(user_ids))
    ):
        roles[user_id].add(SESSION_HOST)
    return {u: sorted(r) for u, r in roles.items()}


# -- official_credited ------------------------------------------------------------------------------


def _credit_findings(rows: list[Any]) -> list[Finding]:
    found: dict[int, Finding] = {}
    for r in rows:  # an official with several approved verifications: the newest (rows ordered so)
        if r.id in found:
            continue
        found[r.id] = Finding(
            OFFICIAL_CREDITED,
            Severity.HIGH,
            SubjectKind.CREDIT,
            r.id,
            {
                "credit_ids": [r.id],
                "credits": [{"id": r.id, "kind": str(r.kind), "amount_fen": r.amount_fen, "note": r.note}],
                "session_id": r.session_id,
                "official": {
                    "user_id": r.user_id,
                    "position_title": r.position_title,
                    "jurisdiction": r.jurisdiction,
                },
            },
        )
    return list(found.values())


async def _official_credits(s: AsyncSession, *where: sa.ColumnElement[bool]) -> list[Any]:
    rows = await s.execute(
        sa.select(
            HostCredit.id,
            HostCredit.session_id,
            HostCredit.user_id,
            HostCredit.kind,
            HostCredit.amount_fen,
            HostCredit.note,
            HostVerification.position_title,
            HostVerification.jurisdiction,
        )
        .join(HostVerification, HostVerification.user_id == HostCredit.user_id)
        .where(
            *where,
            HostVerification.host_kind == HostKind.OFFICIAL,
            HostVerification.status == VerificationStatus.APPROVED,
        )
        .order_by(HostCredit.id, HostVerification.id.desc())
    )
    return list(rows.all())


async def official_credited(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """Every credit recorded for the show to an official, whatever its kind or amount."""
    return _credit_findings(await _official_credits(s, HostCredit.session_id == live.id))


async def official_credit(s: AsyncSession, credit_id: int) -> Finding | None:
    """The finding about one credit, whether tied to a show or not (for the consumer of
    "credit.recorded"), or None when it was not to an official."""
    found = _credit_findings(await _official_credits(s, HostCredit.id == credit_id))
    return found[0] if found else None


# -- draw_won_by_organisation -------------------------------------------------------------------------


async def draw_won_by_organisation(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """A draw of the show won by the seller's own people (see the module)."""
    rows = (
        await s.execute(
            sa.select(
                LuckyDraw.id, LuckyDraw.prize_title, LuckyDraw.prize_value_fen, DrawWinner.user_id, DrawWinner.rank
            )
            .join(DrawWinner, DrawWinner.draw_id == LuckyDraw.id)
            .where(LuckyDraw.session_id == live.id)
            .order_by(LuckyDraw.id, DrawWinner.rank)
        )
    ).all()
    roles = await _seller_roles(s, live, {r.user_id for r in rows})
    draws: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r.user_id not in roles:
            continue
        draw = draws.setdefault(
            r.id,
            {
                "draw_id": r.id,
                "prize_title": r.prize_title,
                "prize_value_fen": r.prize_value_fen,
                "winner_ids": [],
                "winners": [],
            },
        )
        draw["winner_ids"].append(r.user_id)
        draw["winners"].append({"user_id": r.user_id, "rank": r.rank, "roles": roles[r.user_id]})
    return [Finding(DRAW_WON_BY_ORGANISATION, Severity.HIGH, SubjectKind.DRAW, i, e) for i, e in draws.items()]


# -- claim_in_host_chat ------------------------------------------------------------------------------


def _hits_out(hits: list[ClaimHit]) -> list[dict[str, Any]]:
    return [{"term": h.term, "rule": h.rule, "article": h.article} for h in hits]


def _check_all(texts: list[tuple[str, str | None]]) -> list[list[ClaimHit]]:
    return [check_claims(text, category=category) for text, category in texts]


async def claim_in_host_chat(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """Advertising-Law claims in the hosts' chat lines and the shelf's product texts (see the module)."""
    messages = (
        await s.execute(
            sa.select(ChatMessage.id, ChatMessage.user_id, ChatMessage.body)
            .where(ChatMessage.session_id == live.id, ChatMessage.is_host.is_(True))
            .order_by(ChatMessage.id)
        )
    ).all()
    products = (
        await s.execute(
            sa.select(Product.id, Product.title, Product.description, Product.category)
            .where(
                Product.id.in_(
                    sa.select(Sku.product_id)
                    .join(ShelfItem, ShelfItem.sku_id == Sku.id)
                    .where(ShelfItem.session_id == live.id)
                ),
                Product.status == ProductStatus.PUBLISHED,
            )
            .order_by(Product.id)
        )
    ).all()
    texts: list[tuple[str, str | None]] = [(m.body, None) for m in messages]
    fields = [(p, name) for p in products for name in ("title", "description")]
    texts += [(getattr(p, name), p.category.value) for p, name in fields]
    if not texts:
        return []
    hits = await offload.run(_check_all, texts)  # jieba segmentation: off the event loop
    found_messages = [
        {"message_id": m.id, "user_id": m.user_id, "body": m.body, "hits": _hits_out(h)}
        for m, h in zip(messages, hits, strict=False)
        if h
    ]
    found_products = [
        {"product_id": p.id, "field": name, "text": getattr(p, name), "hits": _hits_out(h)}
        for (p, name), h in zip(fields, hits[len(messages) :], strict=True)
        if h
    ]
    if not found_messages and not found_products:
        return []
    evidence = {
        "message_ids": [m["message_id"] for m in found_messages],
        "messages": found_messages,
        "products": found_products,
        "rules": sorted({h["rule"] for x in [*found_messages, *found_products] for h in x["hits"]}),
    }
    return [Finding(CLAIM_IN_HOST_CHAT, Severity.MEDIUM, SubjectKind.SESSION, live.id, evidence)]


# -- negative_removed ---------------------------------------------------------------------------------


async def negative_removed(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """Negative comments and reviews removed by the seller's side (see the module)."""
    messages = (
        await s.execute(
            sa.select(
                ChatMessage.id,
                ChatMessage.user_id,
                ChatMessage.body,
                ChatMessage.removed_at,
                ChatMessage.removed_by_id,
                ChatMessage.removal_reason,
            )
            .where(
                ChatMessage.session_id == live.id,
                ChatMessage.removed_at.is_not(None),
                ChatMessage.removed_by_id.is_not(None),
            )
            .order_by(ChatMessage.id)
        )
    ).all()
    reviews = (
        await s.execute(
            sa.select(
                Review.id,
                Review.order_id,
                Review.product_id,
                Review.organisation_id,
                Review.buyer_id,
                Review.rating,
                Review.body,
                Review.removed_at,
                Review.removed_by_id,
                Review.removal_ground,
                Review.removal_reason,
            )
            .join(Order, Order.id == Review.order_id)
            .where(Order.session_id == live.id, Review.removed_at.is_not(None), Review.removed_by_id.is_not(None))
            .order_by(Review.id)
        )
    ).all()
    orgs = await _selling_organisations(s, live)
    orgs |= {r.organisation_id for r in reviews}
    removers = {m.removed_by_id for m in messages} | {r.removed_by_id for r in reviews}
    roles = await _seller_roles(s, live, removers, orgs)
    found: list[Finding] = []
    for m in messages:
        phrases = negative_phrases(m.body)
        if m.removed_by_id not in roles or not phrases:
            continue
        evidence = {
            "message_id": m.id,
            "author_id": m.user_id,
            "text": m.body,
            "negative": phrases,
            "removed_by_id": m.removed_by_id,
            "remover_roles": roles[m.removed_by_id],
            "removed_at": m.removed_at.isoformat(),
            "reason": m.removal_reason,
        }
        found.append(Finding(NEGATIVE_REMOVED, Severity.HIGH, SubjectKind.CHAT_MESSAGE, m.id, evidence))
    for r in reviews:
        phrases = negative_phrases(r.body)
        low = r.rating <= t.negative_rating_max
        if r.removed_by_id not in roles or not (phrases or low):
            continue
        evidence = {
            "review_id": r.id,
            "order_id": r.order_id,
            "product_id": r.product_id,
            "author_id": r.buyer_id,
            "rating": r.rating,
            "text": r.body,
            "negative": phrases,
            "low_rating": low,
            "removed_by_id": r.removed_by_id,
            "remover_roles": roles[r.removed_by_id],
            "removed_at": r.removed_at.isoformat(),
            "ground": str(r.removal_ground) if r.removal_ground is not None else None,
            "reason": r.removal_reason,
        }
        found.append(Finding(NEGATIVE_REMOVED, Severity.HIGH, SubjectKind.REVIEW, r.id, evidence))
    return found
