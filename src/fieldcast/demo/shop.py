"""Demo shopping through the real checkout and the in-process payment provider: invented addresses
for demo buyers, a purchase as a buyer makes it (checkout, open the payment at the provider, pay
on the provider's side), and the printed buyer's paid orders at seed time.

Nothing here marks an order paid: the sandbox writes its signed notification when the buyer pays,
and the app's relay POSTs it to the app's notify endpoint, which verifies and applies it. Only
the seed, which runs before the server listens, does the endpoint's two steps itself (see
`apply_sent_notification`). Orders, payments and addresses are all marked demo."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import sqlalchemy as sa

from fieldcast.accounts.models import User
from fieldcast.catalog.models import Product, Sku
from fieldcast.commerce.addresses import add_address, default_address
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.errors import BadAddress
from fieldcast.commerce.gate import StockGate
from fieldcast.commerce.models import Address, Order
from fieldcast.commerce.schemas import AddressIn
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import OutboxMessage
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import DomainError
from fieldcast.i18n import N_
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.payments import actions as pay
from fieldcast.payments import sandbox
from fieldcast.payments.models import NotificationOutcome, Payment
from fieldcast.payments.provider import PaymentProvider
from fieldcast.payments.routes import NOTIFY_PATH

log = logging.getLogger(__name__)

# 1380000xxxx: the number every Chinese form shows as its example; no demo phone is anyone's.
DEMO_PHONE_PREFIX = "1380000"
# Counties of the stories' places, in turn for the demo addresses.
STORY_COUNTIES = (
    "420527",  # 湖北 秭归县
    "220622",  # 吉林 靖宇县
    "360981",  # 江西 丰城市
    "370281",  # 山东 胶州市
    "632324",  # 青海 河南县
    "411324",  # 河南 镇平县
    "429005",  # 湖北 潜江市
    "140431",  # 山西 沁源县
    "141124",  # 山西 临县
    "140822",  # 山西 万荣县
    "440403",  # 广东 斗门区
)


def demo_address(recipient: str, n: int, counties: Sequence[str] = STORY_COUNTIES) -> AddressIn:
    """An invented address: the buyer's demo name, a 1380000xxxx phone, one of `counties` (by
    default a county of the stories)."""
    return AddressIn(
        recipient=recipient,
        phone=f"{DEMO_PHONE_PREFIX}{n:04d}",
        region_code=counties[n % len(counties)],
        street=f"演示路{n}号（演示地址，不发货）",
        is_default=True,
    )


async def ensure_demo_address(
    uow: UnitOfWork, buyer: User, n: int, counties: Sequence[str] = STORY_COUNTIES
) -> Address:
    """The buyer's default address, or a new demo one (through the real address action)."""
    found = await default_address(uow.session, buyer.id)
    if found is not None:
        return found
    return await add_address(uow, buyer, demo_address(buyer.display_name, n, counties), is_demo=True)


@dataclass(frozen=True)
class Shop:
    """What a demo purchase needs of the process: the app's context has all of it."""

    new_uow: Callable[..., UnitOfWork]
    gate: StockGate
    provider: PaymentProvider
    settings: Settings

    @property
    def can_pay(self) -> bool:
        """A simulated buyer can pay only the in-process provider; a real one wants real money."""
        return self.provider.name == sandbox.NAME

    @property
    def notify_url(self) -> str:
        """The app's own notify endpoint, where the sandbox sends what it has to say."""
        return self.settings.resolved_public_url + NOTIFY_PATH.format(provider=self.provider.name)


async def place(shop: Shop, buyer: User, wanted: Sequence[Wanted]) -> Payment:
    """Order `wanted` as the buyer, to their default address, through the real checkout (marked
    demo). Raises the shop's answer when it says no (a DomainError: sold out, over the buyer's
    limit, not started yet, the show ended, no address); nothing is written then."""
    async with shop.new_uow() as uow:
        address = await default_address(uow.session, buyer.id)
        if address is None:
            raise BadAddress(N_("Choose one of your addresses."), field="address_id")
        done = await pay.checkout(
            uow,
            shop.gate,
            shop.provider,
            buyer,
            wanted,
            address.id,
            pay_minutes=shop.settings.order_pay_minutes,
            is_demo=True,
        )
    log.info(
        "demo buyer %s ordered %s: payment %s, %s fen",
        buyer.display_name,
        what(wanted),
        done.payment.id,
        done.payment.amount_fen,
    )
    return done.payment


def what(wanted: Sequence[Wanted]) -> str:
    """For the log: "2 × SKU 14 in room 2"."""
    return ", ".join(
        f"{w.quantity} × SKU {w.sku_id}" + (f" in room {w.session_id}" if w.session_id else "") for w in wanted
    )


async def pay_at_provider(shop: Shop, buyer: User, payment_id: int) -> str:
    """Pay as a buyer does: open the payment at the provider (it gives the pay page), then confirm
    on the provider's side, which writes the signed notification for the relay to send. Returns
    the payment's out_trade_no. Raises what the provider or the sandbox answers (DomainError,
    ProviderError)."""
    opened = await pay.open_payment(shop.new_uow, shop.provider, buyer, payment_id, shop.notify_url)
    quirks = sandbox.DeliveryQuirks.from_settings(shop.settings)
    async with shop.new_uow() as uow:
        await sandbox.confirm_payment(uow, opened.out_trade_no, now=utcnow(), quirks=quirks)
    return opened.out_trade_no


async def apply_sent_notification(shop: Shop, out_trade_no: str) -> NotificationOutcome:
    """The seed's stand-in for the relay and the notify endpoint while no server listens: the
    notification the sandbox wrote to the outbox, signed as its delivery signs it, goes through
    the endpoint's two steps (provider.verify, then payments.actions.apply_notification), and the
    message is marked delivered in the same transaction, as the relay marks an acknowledged one."""
    async with shop.new_uow(write=False) as uow:
        message = await uow.session.scalar(
            sa.select(OutboxMessage)
            .where(OutboxMessage.topic == sandbox.TOPIC_NOTIFY, OutboxMessage.key == out_trade_no)
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    if message is None:
        raise LookupError(f"the sandbox wrote no notification for {out_trade_no}")
    fields = {k: v for k, v in message.payload.items() if k != "notify_url"}  # as notify_delivery sends it
    body = orjson.dumps(fields)
    headers = sandbox.signed_headers(sandbox.sandbox_secret(shop.settings), body)
    notification = shop.provider.verify(headers, body)
    async with shop.new_uow() as uow:
        outcome = await pay.apply_notification(uow, shop.gate, shop.provider.name, notification)
        await uow.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id == message.id).values(published_at=utcnow())
        )
    return outcome


async def buy_in_ended_show(
    shop: Shop, buyer: User, live: LiveSession, wanted: Sequence[Wanted], *, at: datetime | None = None
) -> list[int]:
    """Buy in a demo show that has ended, as if it were still on: the seed, which runs before the
    server listens, opens the show's shelf for this one checkout (live again for its length, then
    ended again at its own end time) and pays through the sandbox. With `at`, the orders are
    then moved back to that moment of the show (see `back_date`), so the show's minutes and
    report hold them where they belong. The paid order ids; none when the shop said no (logged)."""
    ended_at = live.ended_at
    async with shop.new_uow() as uow:
        await uow.session.execute(
            sa.update(LiveSession).where(LiveSession.id == live.id).values(state=SessionState.LIVE)
        )
    try:
        payment = await place(shop, buyer, wanted)
    except DomainError as exc:
        log.warning("a demo order in the ended show %s was refused: %s", live.id, exc.code)
        return []
    finally:
        async with shop.new_uow() as uow:
            await uow.session.execute(
                sa.update(LiveSession)
                .where(LiveSession.id == live.id)
                .values(state=SessionState.ENDED, ended_at=ended_at)
            )
    out_trade_no = await pay_at_provider(shop, buyer, payment.id)
    await apply_sent_notification(shop, out_trade_no)
    async with shop.new_uow() as uow:
        orders = await pay.orders_of_payment(uow, payment.id)
        if at is not None:
            for order in orders:
                back_date(order, at)
        return [order.id for order in orders]


def back_date(order: Order, paid_at: datetime, *, session_id: int | None = None, host_id: int | None = None) -> None:
    """Only the demo: an order placed and paid at `paid_at` (in a show that has ended), its
    ship-by deadline the same span after it as the payment gave it; optionally bought in that
    show, while that host explained. Shipping and delivery times are the caller's."""
    promised = (order.ship_by - order.paid_at) if order.ship_by and order.paid_at else None
    pay_window = order.pay_by - order.created_at
    order.created_at, order.paid_at, order.pay_by = paid_at, paid_at, paid_at + pay_window
    if promised is not None:
        order.ship_by = paid_at + promised
    if session_id is not None:
        order.session_id, order.host_id = session_id, host_id


# -- the printed buyer's orders, at seed time ------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    product: str  # title in the demo catalog
    spec: str  # the SKU's spec label
    quantity: int
    room: str = ""  # title of the live demo room it is bought in (at the live price)


# One checkout each; the first has two suppliers, so it makes two orders paid by one payment.
BUYER_CHECKOUTS: tuple[tuple[_Line, ...], ...] = (
    (_Line("秭归脐橙 当季鲜果 按斤装", "10斤装", 1), _Line("胶州洋河蓝莓 当季鲜果 按斤装", "2斤装", 2)),
    (_Line("丰城富硒大米 当季新米", "10公斤装", 1, room="丰城富硒大米 产地直播间"),),
    (_Line("长白山大北山村 秋木耳 干货", "250克袋装", 2),),
)


async def _wanted(uow: UnitOfWork, lines: Sequence[_Line]) -> list[Wanted]:
    wanted: list[Wanted] = []
    for line in lines:
        sku_id = await uow.session.scalar(
            sa.select(Sku.id)
            .join(Product, Product.id == Sku.product_id)
            .where(Product.title == line.product, Product.is_demo.is_(True), Sku.spec_label == line.spec)
        )
        if sku_id is None:
            raise RuntimeError(f"demo catalog has no {line.product} {line.spec}")
        room_id = None
        if line.room:  # bought in the room while it is live, else from the storefront
            room_id = await uow.session.scalar(
                sa.select(LiveSession.id).where(
                    LiveSession.title == line.room,
                    LiveSession.is_demo.is_(True),
                    LiveSession.state == SessionState.LIVE,
                )
            )
        wanted.append(Wanted(sku_id, line.quantity, room_id))
    return wanted


async def seed_buyer_orders(shop: Shop, buyer: User) -> int:
    """The printed buyer's demo address and a few paid orders, once (a buyer who has orders gets
    none added). Each is placed and paid through the same path as the audience's purchases.
    Returns how many checkouts were paid."""
    if not shop.can_pay:
        return 0
    async with shop.new_uow() as uow:
        if await uow.session.scalar(sa.select(Order.id).where(Order.buyer_id == buyer.id).limit(1)):
            return 0
        await ensure_demo_address(uow, buyer, 0)
        baskets = [await _wanted(uow, lines) for lines in BUYER_CHECKOUTS]
    paid = 0
    for wanted in baskets:
        try:
            payment = await place(shop, buyer, wanted)
        except DomainError as exc:  # an old demo database may have sold it out: the demo still starts
            log.warning("the demo buyer's checkout of %s was refused: %s", what(wanted), exc.code)
            continue
        out_trade_no = await pay_at_provider(shop, buyer, payment.id)
        if await apply_sent_notification(shop, out_trade_no) == NotificationOutcome.APPLIED:
            paid += 1
    return paid
