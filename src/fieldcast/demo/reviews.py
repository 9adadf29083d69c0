"""Demo reviews: the products of the demo's ended shows have reviews with tags, written by demo
buyers (演示买家NN, marked demo) through the real actions, on orders that went the whole way:
checkout and the in-process provider (as the printed buyer's orders, demo/shop.py), shipped by a
member of the organisation that sells, delivery confirmed by the buyer, then reviewed. The
orders are put in the ended show they review (its session and host, at the show's time, shipped
and delivered when the review says: some late against the ship-by deadline), so the show's
report groups its feedback by tag, good and bad, with counts and quotes.

Self-contained: it makes its own buyers and delivered orders, whatever other demo orders exist,
and runs once (a demo database whose ended shows' products already have demo reviews gets none
added). One review says what the stories complain about (a box far too large for what is in it):
the seller's reply shows that a bad review stays, answered, never hidden."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from fieldcast.accounts import actions as account_actions
from fieldcast.accounts.models import User
from fieldcast.accounts.queries import list_members
from fieldcast.accounts.schemas import SignUpIn
from fieldcast.catalog.models import Sku
from fieldcast.commerce import orders as order_actions
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Order, OrderLine
from fieldcast.db.uow import UnitOfWork
from fieldcast.demo.fulfilment import SHIP_WITHIN
from fieldcast.demo.shop import (
    Shop,
    apply_sent_notification,
    back_date,
    ensure_demo_address,
    pay_at_provider,
    place,
)
from fieldcast.errors import DomainError
from fieldcast.live.models import LiveSession, SessionHost, SessionState, ShelfItem
from fieldcast.payments import actions as pay
from fieldcast.payments.models import NotificationOutcome
from fieldcast.reviews import actions as review_actions
from fieldcast.reviews import schemas as rs
from fieldcast.reviews.actions import SELLER_ROLES
from fieldcast.reviews.models import Review, ReviewTag

log = logging.getLogger(__name__)

REVIEWER_DOMAIN = "reviews.demo.example.org"
ADDRESS_OFFSET = 40  # demo addresses numbered apart from the audience's


@dataclass(frozen=True)
class _Review:
    rating: int
    tags: tuple[tuple[ReviewTag, bool], ...]
    body: str = ""
    reply: str = ""
    shipped_after: timedelta = timedelta(hours=6)  # after payment (SHIP_WITHIN is the deadline)
    delivered_after: timedelta = timedelta(hours=30)  # after shipping


REVIEWS: tuple[_Review, ...] = (
    _Review(
        5,
        ((ReviewTag.AS_DESCRIBED, True), (ReviewTag.DELIVERY_SPEED, True), (ReviewTag.SERVICE, True)),
        "演示评价：看了回放下的单，鱼和直播里讲的一样精神，充氧袋打得很足。",
        delivered_after=timedelta(hours=20),
    ),
    _Review(
        4,
        ((ReviewTag.AS_DESCRIBED, True), (ReviewTag.PACKAGING_SIZE, False)),
        "演示评价：鱼很好，就是泡沫箱太大了，一尾鱼用这么大的箱子有点浪费。",
        reply="演示回复：谢谢提醒！下批起单尾发货换成小一号的泡沫箱，保温和充氧不变。",
    ),
    _Review(5, ((ReviewTag.FRESHNESS, True), (ReviewTag.DELIVERY_SPEED, True)), delivered_after=timedelta(hours=22)),
    _Review(
        3,
        ((ReviewTag.DELIVERY_SPEED, False), (ReviewTag.SERVICE, True)),
        "演示评价：路上多走了一天，到货时鱼有点累，客服很快联系了我，教我怎么缓。",
        shipped_after=timedelta(hours=54),  # late against the 48-hour deadline
        delivered_after=timedelta(hours=50),
    ),
    _Review(
        2,
        ((ReviewTag.FRESHNESS, False), (ReviewTag.DELIVERY_SPEED, False)),
        "演示评价：下单三天才发货，路上又走了两天，到的时候鱼已经不太精神了。",
        shipped_after=timedelta(hours=70),  # late
        delivered_after=timedelta(hours=48),
    ),
    _Review(
        3,
        ((ReviewTag.PACKAGING_SIZE, False), (ReviewTag.AS_DESCRIBED, True)),
        "演示评价：一尾小鱼配了一个大泡沫箱，快递柜都放不下，希望包装小一点。",
    ),
    _Review(
        5,
        ((ReviewTag.PACKAGING_SIZE, True), (ReviewTag.FRESHNESS, True)),
        "演示评价：这次换了小号的箱子，充氧袋还是很足，鱼到家很活泼。",
    ),
)


@dataclass(frozen=True)
class _Target:
    """The ended show whose product is reviewed, and that product's SKUs on its shelf."""

    room_id: int
    host_id: int | None
    started_at: datetime
    skus: list[int]


def reviewer_email(n: int) -> str:
    return f"buyer{n:02d}@{REVIEWER_DOMAIN}"


async def _targets(shop: Shop) -> _Target | None:
    """The first ended demo show and the SKUs of the first product on its shelf (the koi: the
    reviews speak of fish); None when that product already has demo reviews (seeded before)."""
    async with shop.new_uow(write=False) as uow:
        rows = (
            await uow.session.execute(
                sa.select(ShelfItem.sku_id, Sku.product_id, LiveSession.id, LiveSession.started_at)
                .join(LiveSession, LiveSession.id == ShelfItem.session_id)
                .join(Sku, Sku.id == ShelfItem.sku_id)
                .where(LiveSession.is_demo.is_(True), LiveSession.state == SessionState.ENDED)
                .order_by(ShelfItem.id)
            )
        ).all()
        rows = [r for r in rows if r.product_id == rows[0].product_id and r.id == rows[0].id] if rows else []
        if not rows or rows[0].started_at is None:
            return None
        if await uow.session.scalar(
            sa.select(Review.id).where(Review.product_id == rows[0].product_id, Review.is_demo.is_(True)).limit(1)
        ):
            return None
        host_id = await uow.session.scalar(
            sa.select(SessionHost.user_id)
            .where(SessionHost.session_id == rows[0].id)
            .order_by(SessionHost.position, SessionHost.id)
            .limit(1)
        )
    return _Target(rows[0].id, host_id, rows[0].started_at, list(dict.fromkeys(r.sku_id for r in rows)))


async def _reviewers(shop: Shop, n: int) -> list[User]:
    users: list[User] = []
    async with shop.new_uow() as uow:
        for i in range(1, n + 1):
            email = reviewer_email(i)
            user = await uow.session.scalar(sa.select(User).where(User.email == email))
            if user is None:
                data = SignUpIn(email=email, display_name=f"演示买家{i:02d}", password=f"demo-buyer-{i:02d}-pw")
                user = await account_actions.sign_up(uow, data, is_demo=True)
            await ensure_demo_address(uow, user, ADDRESS_OFFSET + i)
            users.append(user)
    return users


async def _seller(uow: UnitOfWork, organisation_id: int) -> User | None:
    """A member who runs or ships the organisation's orders (the demo organiser is one everywhere)."""
    members = await list_members(uow.session, organisation_id)
    user_id = next((m.user_id for m in members if set(m.roles) & SELLER_ROLES), None)
    return await uow.session.get(User, user_id) if user_id is not None else None


async def _deliver(shop: Shop, buyer: User, target: _Target, n: int, review: _Review) -> Order | None:
    """One unit ordered, paid, shipped by a seller's member, delivery confirmed by the buyer; then
    (only the demo) put in the ended show at its time, shipped and delivered when `review` says."""
    sku_id = target.skus[n % len(target.skus)]
    payment = await place(shop, buyer, [Wanted(sku_id, 1)])
    out_trade_no = await pay_at_provider(shop, buyer, payment.id)
    if await apply_sent_notification(shop, out_trade_no) != NotificationOutcome.APPLIED:
        return None
    async with shop.new_uow() as uow:
        (order,) = await pay.orders_of_payment(uow, payment.id)
        shipper = await _seller(uow, order.organisation_id)
        if shipper is None:
            return None
        await order_actions.ship_order(uow, shipper, order)
    async with shop.new_uow() as uow:
        order = await order_actions.confirm_delivery(uow, buyer, order)
        paid_at = target.started_at + timedelta(minutes=10 + 9 * n)
        back_date(order, paid_at, session_id=target.room_id, host_id=target.host_id)
        order.ship_by = paid_at + SHIP_WITHIN
        order.shipped_at = paid_at + review.shipped_after
        order.delivered_at = order.shipped_at + review.delivered_after
    return order


async def seed_reviews(shop: Shop) -> int:
    """Reviews with tags on the products of the demo's ended shows, once. Returns how many."""
    if not shop.can_pay:
        return 0
    target = await _targets(shop)
    if target is None:
        return 0
    buyers = await _reviewers(shop, len(REVIEWS))
    written = 0
    for n, (buyer, wanted) in enumerate(zip(buyers, REVIEWS, strict=True)):
        try:
            order = await _deliver(shop, buyer, target, n, wanted)
            if order is None:
                continue
            async with shop.new_uow() as uow:
                line = await uow.session.scalar(sa.select(OrderLine).where(OrderLine.order_id == order.id))
                if line is None:
                    continue
                data = rs.ReviewIn(
                    order_line_id=line.id,
                    rating=wanted.rating,
                    tags=[rs.TagIn(tag=tag, positive=good) for tag, good in wanted.tags],
                    body=wanted.body,
                )
                review = await review_actions.post_review(
                    uow, buyer, data, media_dir=shop.settings.resolved_media_dir, is_demo=True
                )
            if wanted.reply:
                async with shop.new_uow() as uow:
                    seller = await _seller(uow, order.organisation_id)
                    await review_actions.reply_to_review(uow, seller, review.id, rs.ReplyIn(body=wanted.reply))
        except DomainError as exc:  # an old demo database may have sold out: the demo still starts
            log.warning("a demo review could not be written: %s", exc.code)
            continue
        written += 1
    return written
