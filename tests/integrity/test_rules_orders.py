"""The rules over a show's orders and buyers (integrity/rules_orders.py), each alone: it finds
what it is about with the evidence, stays quiet just below its threshold, and none of them fires
on an honest show. Buyers and their addresses are written as sign-up leaves them (with the
account's age set); orders are placed, paid, cancelled and expired through the real actions
(payments' checkout, the provider's notification, the buyer's cancel, the expiry)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import Membership, Organisation, OrgKind, Role, User
from fieldcast.catalog.models import Sku
from fieldcast.commerce import orders as order_actions
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.models import Address, Order, OrderState
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.integrity import actions as a
from fieldcast.integrity import rules as r
from fieldcast.integrity import rules_orders as ro
from fieldcast.integrity.models import IntegrityAlert, Severity, SubjectKind
from fieldcast.live.models import LiveSession, SessionState, ShelfItem
from fieldcast.payments import actions as payments
from fieldcast.payments.models import NotificationOutcome, Payment, PaymentOrder
from fieldcast.payments.provider import Notification
from tests.integrity.world import World, world

ON_BOTH_BACKENDS = True

T = r.Thresholds()  # the shipped defaults
OLD = timedelta(days=90)
PUBLIC = ["qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "foxmail.com", "139.com"]


class StandInProvider:
    """payments.actions.checkout only reads the provider's name."""

    name = "test"


@dataclass
class Show:
    """A live show of the integrity world, reopened for buying (its SKU sold from stock at the
    live price, no per-buyer limit), and the buyers made for it."""

    app: FastAPI
    w: World
    started_at: datetime
    serial: int = 0
    payments: dict[int, int] = field(default_factory=dict)  # order -> payment

    @property
    def sku(self) -> int:
        return self.w.shop.skus[0]

    async def buyer(
        self,
        *,
        domain: str | None = None,
        age: timedelta = OLD,
        phone: str | None = None,
        street: str | None = None,
        region: str = "420506",
    ) -> int:
        """An account made `age` before the show started, with a default address (its own phone
        and street unless given) and a public mail domain unless given."""
        self.serial += 1
        n = self.serial
        async with self.app.state.ctx.uow() as uow:
            user = User(
                email=f"b{n}-{self.w.session_id}@{domain or random.choice(PUBLIC)}",
                display_name=f"买家{n}",
                password_hash="x",
                created_at=self.started_at - age,
            )
            uow.session.add(user)
            await uow.session.flush()
            uow.session.add(
                Address(
                    user_id=user.id,
                    recipient=f"收件人{n}",
                    phone=phone or f"139{n:08d}",
                    region_code=region,
                    street=street or f"幸福路{n}号",
                    is_default=True,
                )
            )
            return user.id

    async def order(self, buyer_id: int, units: int = 1) -> int:
        """Checkout of `units` of the show's SKU in the room; the order id."""
        ctx = self.app.state.ctx
        async with ctx.uow() as uow:
            user = await uow.session.get(User, buyer_id)
            address = await uow.session.scalar(sa.select(Address.id).where(Address.user_id == buyer_id))
            assert address is not None
            done = await payments.checkout(
                uow,
                ctx.gate,
                StandInProvider(),  # type: ignore[arg-type]
                user,
                [Wanted(self.sku, units, self.w.session_id)],
                address,
                pay_minutes=15,
            )
            (order,) = done.placed.orders
            self.payments[order.id] = done.payment.id
            return order.id

    async def pay(self, order_id: int, body: dict[str, Any] | None = None) -> None:
        """The provider's notification that the order's payment succeeded, with its body."""
        ctx = self.app.state.ctx
        async with ctx.uow() as uow:
            payment = await uow.session.get(Payment, self.payments[order_id])
            assert payment is not None
            notification = Notification(
                notification_id=f"paid-{payment.id}",
                event_type="TRANSACTION.SUCCESS",
                out_trade_no=payment.out_trade_no,
                transaction_id=f"t-{payment.id}",
                amount_fen=payment.amount_fen,
                paid_at=utcnow(),
                body=body or {},
            )
            assert await payments.apply_notification(uow, ctx.gate, "test", notification) == (
                NotificationOutcome.APPLIED
            )

    async def bought(self, buyer_id: int, units: int = 1, body: dict[str, Any] | None = None) -> int:
        order_id = await self.order(buyer_id, units)
        await self.pay(order_id, body)
        return order_id

    async def cancel(self, order_id: int) -> None:
        ctx = self.app.state.ctx
        async with ctx.uow() as uow:
            order = await uow.session.get(Order, order_id)
            assert order is not None
            buyer = await uow.session.get(User, order.buyer_id)
            await order_actions.cancel_order(uow, ctx.gate, buyer, order, "换个数量")

    async def expire(self, order_id: int) -> None:
        ctx = self.app.state.ctx
        async with ctx.uow() as uow:
            order = await uow.session.get(Order, order_id)
            assert order is not None
            closed = await order_actions.expire_order(uow, ctx.gate, order_id, now=order.pay_by + timedelta(seconds=1))
            assert closed is not None and closed.state == OrderState.EXPIRED

    async def end(self) -> LiveSession:
        async with self.app.state.ctx.uow() as uow:
            live = await uow.session.get(LiveSession, self.w.session_id)
            assert live is not None
            live.state, live.ended_at = SessionState.ENDED, utcnow()
        return await self.live()

    async def live(self) -> LiveSession:
        async with self.app.state.ctx.uow(write=False) as uow:
            live: LiveSession | None = await uow.session.get(LiveSession, self.w.session_id)
            assert live is not None
            return live

    async def findings(self, rule: r.Rule, t: r.Thresholds = T) -> list[r.Finding]:
        live = await self.live()
        async with self.app.state.ctx.uow(write=False) as uow:
            return await rule(uow.session, live, t)


async def live_show(app: FastAPI) -> Show:
    w = await world(app, buyers=0)
    started_at = utcnow() - timedelta(minutes=30)
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        live.state, live.ended_at, live.started_at = SessionState.LIVE, None, started_at
        item = await uow.session.get(ShelfItem, w.shop.shelf_item_id)
        assert item is not None
        item.session_stock, item.per_buyer_limit = None, None  # sold from the SKU's stock alone
        await uow.session.execute(sa.update(Sku).where(Sku.id == w.shop.skus[0]).values(stock=5000, available=5000))
    return Show(app, w, started_at)


async def outside_organisation(app: FastAPI, members: list[int], name: str = "靖宇县农业农村局") -> int:
    async with app.state.ctx.uow() as uow:
        org = Organisation(slug=f"bureau{len(members)}-{utcnow().timestamp():.0f}", name=name, kind=OrgKind.GOVERNMENT)
        uow.session.add(org)
        await uow.session.flush()
        uow.session.add_all(Membership(organisation_id=org.id, user_id=m, role=Role.SUPERVISOR) for m in members)
        return org.id


# -- buyers who are members of one outside organisation -------------------------------------------


async def test_many_buyers_of_one_outside_organisation_are_found_and_four_are_not(app: FastAPI) -> None:
    show = await live_show(app)
    staff = [await show.buyer() for _ in range(5)]
    public = [await show.buyer() for _ in range(5)]
    for b in staff + public:
        await show.bought(b)
    bureau = await outside_organisation(app, staff[:4])
    # The seller's own people are another rule's: membership there is not counted here.
    async with app.state.ctx.uow() as uow:
        uow.session.add_all(Membership(organisation_id=show.w.shop.org_id, user_id=b, role=Role.HOST) for b in public)
    await show.end()
    assert await show.findings(ro.buyers_one_organisation) == []  # four of ten: below five
    async with app.state.ctx.uow() as uow:
        uow.session.add(Membership(organisation_id=bureau, user_id=staff[4], role=Role.INSPECTOR))
    (f,) = await show.findings(ro.buyers_one_organisation)
    assert (f.rule, f.severity, f.subject_kind, f.subject_id) == (
        ro.BUYERS_ONE_ORGANISATION,
        Severity.MEDIUM,
        SubjectKind.SESSION,
        show.w.session_id,
    )
    assert f.evidence["paying_buyers"] == 10
    (org,) = f.evidence["organisations"]
    assert org["organisation_id"] == bureau and org["name"] == "靖宇县农业农村局"
    assert org["buyer_ids"] == sorted(staff) and org["buyers"] == 5 and org["share"] == 0.5
    # Five of ten is half: a threshold above it finds nothing.
    assert await show.findings(ro.buyers_one_organisation, r.Thresholds(org_share=0.51)) == []


async def test_unpaid_orders_do_not_make_an_organisations_buyers(app: FastAPI) -> None:
    show = await live_show(app)
    staff = [await show.buyer() for _ in range(5)]
    for b in staff[:4]:
        await show.bought(b)
    await show.order(staff[4])  # placed, never paid
    await outside_organisation(app, staff)
    await show.end()
    assert await show.findings(ro.buyers_one_organisation, r.Thresholds(org_min_buyers=4)) != []
    assert await show.findings(ro.buyers_one_organisation) == []


# -- buyers at one private mail domain ---------------------------------------------------------------


async def test_many_buyers_at_one_private_mail_domain_are_found_and_public_domains_never(app: FastAPI) -> None:
    show = await live_show(app)
    office = [await show.buyer(domain="jingyu.gov.cn") for _ in range(4)]
    office.append(await show.buyer(domain="JINGYU.gov.cn"))  # domains are compared without case
    qq = [await show.buyer(domain="qq.com") for _ in range(6)]  # six at one public provider: nothing
    for b in office + qq:
        await show.bought(b)
    await show.end()
    (f,) = await show.findings(ro.buyers_one_email_domain)
    assert (f.rule, f.severity, f.subject_kind) == (ro.BUYERS_ONE_EMAIL_DOMAIN, Severity.MEDIUM, SubjectKind.SESSION)
    assert f.evidence["domains"] == [
        {"domain": "jingyu.gov.cn", "buyers": 5, "buyer_ids": sorted(office), "share": round(5 / 11, 4)}
    ]
    assert f.evidence["paying_buyers"] == 11
    assert await show.findings(ro.buyers_one_email_domain, r.Thresholds(domain_min_buyers=6)) == []
    assert await show.findings(ro.buyers_one_email_domain, r.Thresholds(domain_share=0.46)) == []
    assert "qq.com" in ro.PUBLIC_MAIL_DOMAINS and ro.mail_domain("a@Mail.Example.") == "mail.example"


# -- one address or payer behind many buyers ---------------------------------------------------------


async def test_one_phone_behind_many_buyers_is_found_however_it_is_spelled(app: FastAPI) -> None:
    show = await live_show(app)
    spellings = ["13812345678", "+86 138 1234 5678", "138-1234-5678", "13812345678", "(+86)13812345678"]
    same = [await show.buyer(phone=p) for p in spellings]
    orders = [await show.bought(b) for b in same]
    others = [await show.bought(await show.buyer()) for _ in range(3)]
    await show.end()
    (f,) = await show.findings(ro.buyers_one_address)
    assert (f.rule, f.severity, f.subject_kind) == (ro.BUYERS_ONE_ADDRESS, Severity.HIGH, SubjectKind.SESSION)
    (group,) = f.evidence["groups"]
    assert group["kind"] == "phone" and group["value"] == "138****5678"
    assert group["buyer_ids"] == sorted(same) and group["order_ids"] == sorted(orders)
    assert not set(others) & set(group["order_ids"])
    assert await show.findings(ro.buyers_one_address, r.Thresholds(address_min_buyers=6)) == []


async def test_one_street_behind_many_buyers_is_found_and_four_are_not(app: FastAPI) -> None:
    show = await live_show(app)
    streets = ["江边路 8号 仓库", "江边路8号仓库", "江边路８号 仓库", "江边路8号，仓库", "江边路8号 仓库"]
    same = [await show.buyer(street=s) for s in streets]
    for b in same:
        await show.bought(b)
    await show.bought(await show.buyer(street="江边路8号仓库", region="220622"))  # another county
    await show.end()
    (f,) = await show.findings(ro.buyers_one_address)
    (group,) = f.evidence["groups"]
    assert group["kind"] == "street" and group["buyers"] == 5 and group["buyer_ids"] == sorted(same)
    # Five in one county: at six nothing (the same street in another county is another address).
    assert await show.findings(ro.buyers_one_address, r.Thresholds(address_min_buyers=6)) == []
    assert group["value"].startswith("420506 ")


async def test_one_payer_account_behind_many_buyers_is_found(app: FastAPI) -> None:
    show = await live_show(app)
    wechat = {"resource": {"trade_state": "SUCCESS", "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}}
    alipay = {"buyer_id": "2088102177846875", "trade_status": "TRADE_SUCCESS"}
    paid_by_one = [await show.bought(await show.buyer(), body=wechat) for _ in range(5)]
    for _ in range(4):  # four buyers behind another payer: below five
        await show.bought(await show.buyer(), body=alipay)
    await show.end()
    (f,) = await show.findings(ro.buyers_one_address)
    (group,) = f.evidence["groups"]
    assert group["kind"] == "payer" and group["value"] == "wechat:oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert group["order_ids"] == sorted(paid_by_one)
    assert await show.findings(ro.buyers_one_address, r.Thresholds(address_min_buyers=6)) == []
    assert ro.payer_of(alipay) == "alipay:2088102177846875" and ro.payer_of({}) is None


# -- new accounts that bought once ---------------------------------------------------------------


async def test_fresh_accounts_that_bought_only_in_the_show_are_found(app: FastAPI) -> None:
    show = await live_show(app)
    fresh = [await show.buyer(age=timedelta(hours=h)) for h in (1, 5, 20, 47)]
    during = await show.buyer(age=-timedelta(minutes=10))  # made during the show
    old = [await show.buyer() for _ in range(5)]
    for b in [*fresh, during, *old]:
        await show.bought(b)
    await show.bought(await show.buyer(age=timedelta(hours=49)))  # just older than 48 hours
    live = await show.end()
    (f,) = await show.findings(ro.new_accounts_buy_once)
    assert (f.rule, f.severity, f.subject_kind) == (ro.NEW_ACCOUNTS_BUY_ONCE, Severity.MEDIUM, SubjectKind.SESSION)
    assert [x["buyer_id"] for x in f.evidence["accounts"]] == sorted([*fresh, during])
    assert f.evidence["buyers"] == 5 and f.evidence["paying_buyers"] == 11 and f.evidence["share"] == round(5 / 11, 4)
    assert f.evidence["hours"] == 48
    # One of them signs in again after the show: four left, below five.
    assert live.ended_at is not None
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(User).where(User.id == fresh[0]).values(last_sign_in_at=live.ended_at + timedelta(hours=1))
        )
    assert await show.findings(ro.new_accounts_buy_once) == []


async def test_a_fresh_account_with_an_order_elsewhere_is_not_one_off(app: FastAPI) -> None:
    show = await live_show(app)
    fresh = [await show.buyer(age=timedelta(hours=2)) for _ in range(5)]
    for b in fresh:
        await show.bought(b)
    # One of them also bought from the storefront (no show): a returning customer.
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        user = await uow.session.get(User, fresh[0])
        address = await uow.session.scalar(sa.select(Address.id).where(Address.user_id == fresh[0]))
        assert address is not None
        await payments.checkout(
            uow,
            ctx.gate,
            StandInProvider(),  # type: ignore[arg-type]
            user,
            [Wanted(show.w.shop.skus[1], 1)],
            address,
            pay_minutes=15,
        )
    await show.end()
    assert await show.findings(ro.new_accounts_buy_once, r.Thresholds(new_account_min_buyers=4)) != []
    assert await show.findings(ro.new_accounts_buy_once) == []


# -- re-staged orders ----------------------------------------------------------------------------


async def test_several_buyers_each_cancelling_and_placing_again_are_found(app: FastAPI) -> None:
    show = await live_show(app)
    stagers = [await show.buyer() for _ in range(3)]
    honest = [await show.buyer() for _ in range(10)]
    pairs = []
    for b in stagers:
        first = await show.order(b, units=5)
        await show.cancel(first)
        again = await show.order(b, units=5)
        await show.pay(again)
        pairs.append((first, again))
    for b in honest:
        await show.bought(b)
    await show.end()
    (f,) = await show.findings(ro.restaged_orders)
    assert (f.rule, f.severity, f.subject_kind) == (ro.RESTAGED_ORDERS, Severity.HIGH, SubjectKind.SESSION)
    assert [(p["closed_order_id"], p["new_order_id"]) for p in f.evidence["orders"]] == pairs
    assert {p["closed_state"] for p in f.evidence["orders"]} == {"cancelled"}
    assert f.evidence["pairs"] == 3 and f.evidence["buyers"] == 3 and f.evidence["show_buyers"] == 13
    assert f.evidence["parties"] == []  # three people, once each: found by their share of the show
    # Three of thirteen buyers (0.23): a share above that, or four pairs asked for, finds nothing.
    assert await show.findings(ro.restaged_orders, r.Thresholds(restage_share=0.24)) == []
    assert await show.findings(ro.restaged_orders, r.Thresholds(restage_min_pairs=4)) == []


async def test_one_buyer_re_staging_expired_orders_is_found_as_a_party(app: FastAPI) -> None:
    show = await live_show(app)
    stager = await show.buyer()
    for _ in range(3):
        lapsed = await show.order(stager, units=2)
        await show.expire(lapsed)
    await show.bought(stager, units=2)
    for _ in range(4):
        await show.bought(await show.buyer())
    await show.end()
    # One buyer in five: found as a party even when the share asked of the show is out of reach.
    (f,) = await show.findings(ro.restaged_orders, r.Thresholds(restage_share=0.9))
    assert f.evidence["parties"] == [{"buyer_id": stager, "pairs": 3}]
    assert {p["closed_state"] for p in f.evidence["orders"]} == {"expired"}
    assert await show.findings(ro.restaged_orders, r.Thresholds(restage_share=0.9, restage_min_pairs=4)) == []


async def test_members_of_one_organisation_re_staging_are_one_party(app: FastAPI) -> None:
    show = await live_show(app)
    staff = [await show.buyer() for _ in range(3)]
    for b in staff:
        await show.cancel(await show.order(b))
        await show.bought(b)
    for _ in range(3):
        await show.bought(await show.buyer())
    await show.end()
    t = r.Thresholds(restage_share=0.9)  # three of six buyers: only a party can reach the rule
    assert await show.findings(ro.restaged_orders, t) == []  # three people, once each
    bureau = await outside_organisation(app, staff)
    (f,) = await show.findings(ro.restaged_orders, t)
    assert f.evidence["parties"] == [{"organisation_id": bureau, "buyer_ids": sorted(staff), "pairs": 3}]


async def test_two_cancellations_placed_again_or_other_orders_are_not_re_staging(app: FastAPI) -> None:
    show = await live_show(app)
    buyers = [await show.buyer() for _ in range(6)]
    # Two buyers cancel and re-order the same (a wrong address, say): ordinary, below three.
    for b in buyers[:2]:
        await show.cancel(await show.order(b))
        await show.bought(b)
    # Two cancel and order something else (another quantity): not the same deal.
    for b in buyers[2:4]:
        await show.cancel(await show.order(b, units=1))
        await show.bought(b, units=3)
    for b in buyers[4:]:
        await show.bought(b)
    await show.end()
    assert await show.findings(ro.restaged_orders) == []
    # With the threshold at two, the two re-orders of the same are what is found, the others not.
    (f,) = await show.findings(ro.restaged_orders, r.Thresholds(restage_min_pairs=2))
    assert sorted(p["buyer_id"] for p in f.evidence["orders"]) == sorted(buyers[:2])


def _placed(
    id_: int, minute: int, state: OrderState = OrderState.PAID, closed: int | None = None, qty: int = 1
) -> ro._Placed:
    base = datetime(2026, 11, 1, 10, 0)
    return ro._Placed(
        id_,
        7,
        state,
        state == OrderState.PAID,
        6900 * qty,
        base + timedelta(minutes=minute),
        base + timedelta(minutes=closed) if closed is not None else None,
        ((1, qty),),
    )


def test_a_replacement_counts_only_within_the_window_after_the_close() -> None:
    window = timedelta(minutes=30)
    cancelled = _placed(1, 0, OrderState.CANCELLED, closed=5)
    assert ro.restaged_pairs([cancelled, _placed(2, 35)], window) == [(cancelled, _placed(2, 35))]
    assert ro.restaged_pairs([cancelled, _placed(2, 36)], window) == []  # 31 minutes after the close
    assert ro.restaged_pairs([cancelled, _placed(2, 10, qty=2)], window) == []  # another deal
    # A chain is two pairs; a paid order is never the closed half.
    chain = [cancelled, _placed(2, 6, OrderState.CANCELLED, closed=8), _placed(3, 9)]
    assert [(o.id, n.id) for o, n in ro.restaged_pairs(chain, window)] == [(1, 2), (2, 3)]
    assert ro.restaged_pairs([_placed(1, 0), _placed(2, 1)], window) == []


# -- large orders never paid ---------------------------------------------------------------------


async def test_large_orders_closed_unpaid_are_found_one_by_one(app: FastAPI) -> None:
    show = await live_show(app)
    b = [await show.buyer() for _ in range(5)]
    cancelled = await show.order(b[0], units=50)
    await show.cancel(cancelled)
    expired = await show.order(b[1], units=80)
    await show.expire(expired)
    below = await show.order(b[2], units=49)  # 49 units, 3381 yuan: under both thresholds
    await show.cancel(below)
    await show.bought(b[3], units=100)  # large and paid: a sale
    await show.order(b[4], units=100)  # large, still awaiting payment when the show ends
    await show.end()
    found = await show.findings(ro.large_orders_never_paid)
    assert [(f.subject_kind, f.subject_id) for f in found] == [
        (SubjectKind.ORDER, cancelled),
        (SubjectKind.ORDER, expired),
    ]
    assert found[1].severity == Severity.HIGH
    assert found[1].evidence | {"created_at": None} == {
        "buyer_id": b[1],
        "units": 80,
        "total_fen": 80 * 6900,
        "state": "expired",
        "created_at": None,
        "min_units": 50,
        "min_fen": 500_000,
    }
    # By money: 49 units are 338100 fen, found when the money threshold is at that sum.
    by_money = await show.findings(ro.large_orders_never_paid, r.Thresholds(large_order_fen=338_100))
    assert below in [f.subject_id for f in by_money]
    assert below not in [
        f.subject_id for f in await show.findings(ro.large_orders_never_paid, r.Thresholds(large_order_fen=338_101))
    ]


# -- an honest show, and the rules run and stored --------------------------------------------------


async def test_an_honest_show_raises_none_of_these_rules(app: FastAPI) -> None:
    rng = random.Random(18)  # its own generator: seeding the global one fixes every later test's draws
    show = await live_show(app)
    buyers = [await show.buyer(age=timedelta(days=rng.randint(3, 900))) for _ in range(20)]
    for b in buyers:
        await show.bought(b, units=rng.randint(1, 6))
    # Ordinary cancellations: one changes their mind, one re-orders the same, one lets it lapse.
    await show.cancel(await show.order(buyers[0], units=2))
    await show.cancel(await show.order(buyers[1], units=1))
    await show.bought(buyers[1], units=1)
    await show.expire(await show.order(buyers[2], units=3))
    await show.bought(buyers[3], units=20)  # a family's big order, paid
    await show.end()
    for rule in ro.ORDER_RULES:
        assert await show.findings(rule) == [], rule.__name__
    async with app.state.ctx.uow() as uow:
        added = await a.run_rules(uow, show.w.session_id)  # every rule, as when a show ends
    ours = {rule.__name__ for rule in ro.ORDER_RULES}
    assert [x.rule for x in added if x.rule in ours] == []


async def test_the_rules_are_registered_and_their_findings_stored_once(app: FastAPI) -> None:
    assert set(ro.ORDER_RULES) <= set(r.RULES)
    show = await live_show(app)
    office = [await show.buyer(domain="jingyu.gov.cn", age=timedelta(hours=3), phone="13900000000") for _ in range(5)]
    await outside_organisation(app, office)
    for b in office:
        await show.cancel(await show.order(b, units=60))
        await show.bought(b, units=60)
    await show.end()
    async with app.state.ctx.uow() as uow:
        added = await a.run_rules(uow, show.w.session_id, rules=ro.ORDER_RULES)
    assert sorted({x.rule for x in added}) == sorted(
        [
            ro.BUYERS_ONE_ORGANISATION,
            ro.BUYERS_ONE_EMAIL_DOMAIN,
            ro.BUYERS_ONE_ADDRESS,
            ro.NEW_ACCOUNTS_BUY_ONCE,
            ro.RESTAGED_ORDERS,
            ro.LARGE_ORDERS_NEVER_PAID,
        ]
    )
    assert len([x for x in added if x.rule == ro.LARGE_ORDERS_NEVER_PAID]) == 5
    async with app.state.ctx.uow() as uow:
        assert await a.run_rules(uow, show.w.session_id, rules=ro.ORDER_RULES) == []
    async with app.state.ctx.uow(write=False) as uow:
        stored = (await uow.session.scalars(sa.select(IntegrityAlert).order_by(IntegrityAlert.id))).all()
        restaged = next(x for x in stored if x.rule == ro.RESTAGED_ORDERS)
        assert restaged.evidence["pairs"] == 5  # JSON as stored, read back
        paid = await uow.session.scalar(sa.select(sa.func.count()).select_from(PaymentOrder))
        assert paid == 10


def test_the_thresholds_come_from_the_settings() -> None:
    settings = Settings(
        integrity_org_min_buyers=7,
        integrity_domain_share=0.5,
        integrity_address_min_buyers=3,
        integrity_new_account_hours=12,
        integrity_restage_window_minutes=10,
        integrity_restage_min_pairs=4,
        integrity_large_order_fen=100_000,
    )
    t = r.Thresholds.from_settings(settings)
    assert (t.org_min_buyers, t.domain_share, t.address_min_buyers, t.new_account_hours) == (7, 0.5, 3, 12)
    assert (t.restage_window_minutes, t.restage_min_pairs, t.large_order_fen) == (10, 4, 100_000)
    assert r.Thresholds.from_settings(Settings()) == r.Thresholds()  # the defaults agree
