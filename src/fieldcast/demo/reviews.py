"""Demo reviews: the products of the demo's ended shows have reviews with tags, written by demo
buyers (演示买家NN, marked demo) through the real actions, on orders that went the whole way:
checkout and the in-process provider (as the printed buyer's orders, demo/shop.py), shipped by a
member of the organisation that sells, delivery confirmed by the buyer, then reviewed.

Self-contained: it makes its own buyers and delivered orders, whatever other demo orders exist,
and runs once (a demo database whose ended shows' products already have demo reviews gets none
added). One review says what the stories complain about (a box far too large for what is in it):
the seller's reply shows that a bad review stays, answered, never hidden."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
from fieldcast.demo.shop import Shop, apply_sent_notification, ensure_demo_address, pay_at_provider, place
from fieldcast.errors import DomainError
from fieldcast.live.models import LiveSession, SessionState, ShelfItem
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


REVIEWS: tuple[_Review, ...] = (
    _Review(
        5,
        ((ReviewTag.AS_DESCRIBED, True), (ReviewTag.DELIVERY_SPEED, True), (ReviewTag.SERVICE, True)),
        "演示评价：看了回放下的单，鱼和直播里讲的一样精神，充氧袋打得很足。",
    ),
    _Review(
        4,
        ((ReviewTag.AS_DESCRIBED, True), (ReviewTag.PACKAGING_SIZE, False)),
        "演示评价：鱼很好，就是泡沫箱太大了，一尾鱼用这么大的箱子有点浪费。",
        reply="演示回复：谢谢提醒！下批起单尾发货换成小一号的泡沫箱，保温和充氧不变。",
    ),
    _Review(5, ((ReviewTag.FRESHNESS, True), (ReviewTag.DELIVERY_SPEED, True))),
    _Review(
        3,
        ((ReviewTag.DELIVERY_SPEED, False), (ReviewTag.SERVICE, True)),
        "演示评价：路上多走了一天，到货时鱼有点累，客服很快联系了我，教我怎么缓。",
    ),
)


def reviewer_email(n: int) -> str:
    return f"buyer{n:02d}@{REVIEWER_DOMAIN}"


async def _targets(shop: Shop) -> list[int] | None:
    """The SKUs of the first product on the shelves of ended demo shows (the koi: the reviews
    speak of fish); None when it already has demo reviews (seeded before)."""
    async with shop.new_uow(write=False) as uow:
        rows = (
            await uow.session.execute(
                sa.select(ShelfItem.sku_id, Sku.product_id)
                .join(LiveSession, LiveSession.id == ShelfItem.session_id)
                .join(Sku, Sku.id == ShelfItem.sku_id)
                .where(LiveSession.is_demo.is_(True), LiveSession.state == SessionState.ENDED)
                .order_by(ShelfItem.id)
            )
        ).all()
        rows = [r for r in rows if r.product_id == rows[0].product_id] if rows else []
        products = {p for _sku, p in rows}
        if products and await uow.session.scalar(
            sa.select(Review.id).where(Review.product_id.in_(products), Review.is_demo.is_(True)).limit(1)
        ):
            return None
    return list(dict.fromkeys(sku for sku, _p in rows))


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


async def _deliver(shop: Shop, buyer: User, sku_id: int) -> Order | None:
    """One unit of the SKU ordered, paid, shipped by a seller's member, delivery confirmed."""
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
    return order


async def seed_reviews(shop: Shop) -> int:
    """Reviews with tags on the products of the demo's ended shows, once. Returns how many."""
    if not shop.can_pay:
        return 0
    skus = await _targets(shop)
    if not skus:
        return 0
    buyers = await _reviewers(shop, len(REVIEWS))
    written = 0
    for n, (buyer, wanted) in enumerate(zip(buyers, REVIEWS, strict=True)):
        try:
            order = await _deliver(shop, buyer, skus[n % len(skus)])
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
