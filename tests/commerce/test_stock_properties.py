"""Property tests (hypothesis) of the order state machine and of the stock invariant, over the
real checkout and order actions on a real database: random interleavings of buying (one at a time
or several at once), paying, expiring and cancelling, with the invariant checked after every step
(sold + reserved + available = stock for every SKU and show pool, none negative; reserved and sold
equal what the orders hold; per-buyer tallies within their limits), and every transition checked
against the state machine: only a pending order can be paid, cancelled or expired; a payment that
comes after the order closed is refused, never applied."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from fieldcast.accounts.models import User
from fieldcast.commerce import errors as e
from fieldcast.commerce import orders as actions
from fieldcast.commerce.checkout import Wanted, place_orders
from fieldcast.commerce.gate import OpenGate
from fieldcast.commerce.models import Order, OrderState
from fieldcast.config import async_database_url
from fieldcast.db.base import utcnow
from fieldcast.db.engine import Database
from fieldcast.db.migrate import upgrade
from tests.commerce.shop import Shop, check_invariants, open_shop

ALLOWED: dict[str, set[OrderState]] = {  # from-states of each transition
    "pay": {OrderState.PENDING_PAYMENT},
    "cancel": {OrderState.PENDING_PAYMENT},
    "expire": {OrderState.PENDING_PAYMENT},
}


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each example starts from a copy of it."""
    path = tmp_path_factory.mktemp("props") / "template.sqlite3"
    upgrade(async_database_url(f"sqlite:///{path}"))
    return path


class Orders(RuleBasedStateMachine):
    template: Path
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        copy = self.workdir / f"run{id(self)}.sqlite3"
        shutil.copyfile(self.template, copy)
        self.db = Database(async_database_url(f"sqlite:///{copy}"))
        self.gate = OpenGate()
        self.model: dict[int, OrderState] = {}  # what the state machine says each order is
        self.shop: Shop

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.db.dispose())
        self.loop.close()

    @initialize(
        sku_stock=st.integers(0, 8),
        pool=st.one_of(st.none(), st.integers(0, 6)),
        limit=st.one_of(st.none(), st.integers(1, 4)),
    )
    def open(self, sku_stock: int, pool: int | None, limit: int | None) -> None:
        async def go() -> Shop:
            async with self.db.uow() as uow:
                return await open_shop(
                    uow,
                    sku_stock=sku_stock,
                    pool=min(pool, sku_stock) if pool is not None else None,
                    per_buyer_limit=limit,
                )

        self.shop = self.run(go())

    async def _buy(self, buyer: int, quantity: int, in_room: bool, sku: int) -> None:
        sku_id = self.shop.skus[0] if in_room else self.shop.skus[sku]
        async with self.db.uow() as uow:
            actor = await uow.session.get(User, buyer)
            try:
                placed = await place_orders(
                    uow,
                    self.gate,
                    actor,
                    [Wanted(sku_id, quantity, self.shop.session_id if in_room else None)],
                    self.shop.addresses[buyer],
                )
            except (e.SoldOut, e.LimitReached):
                await uow.rollback()
                return
            for order in placed.orders:
                self.model[order.id] = OrderState.PENDING_PAYMENT

    @rule(buyer=st.integers(0, 2), quantity=st.integers(1, 4), in_room=st.booleans(), sku=st.integers(0, 1))
    def buy(self, buyer: int, quantity: int, in_room: bool, sku: int) -> None:
        self.run(self._buy(self.shop.buyers[buyer], quantity, in_room, sku))

    @rule(attempts=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3), st.booleans()), min_size=2, max_size=6))
    def buy_at_once(self, attempts: list[tuple[int, int, bool]]) -> None:
        """Several buyers at the same moment (the write transactions interleave at every await)."""

        async def burst() -> None:
            await asyncio.gather(*(self._buy(self.shop.buyers[b], q, room, 0) for b, q, room in attempts))

        self.run(burst())

    def _pick(self, pick: int) -> int | None:
        """An order, chosen by an index drawn the same way every time (which orders exist can
        differ between runs: buyers at the same moment race for the last units)."""
        return sorted(self.model)[pick % len(self.model)] if self.model else None

    @rule(pick=st.integers(0, 1000))
    def pay(self, pick: int) -> None:
        order_id = self._pick(pick)
        if order_id is None:
            return

        async def go() -> list[Order]:
            async with self.db.uow() as uow:
                return await actions.pay_orders(uow, [order_id], utcnow())

        refused = self.run(go())
        if self.model[order_id] in ALLOWED["pay"]:
            assert refused == []
            self.model[order_id] = OrderState.PAID
        else:
            assert [o.id for o in refused] == [order_id]  # money for a closed order goes back

    @rule(pick=st.integers(0, 1000))
    def cancel(self, pick: int) -> None:
        order_id = self._pick(pick)
        if order_id is None:
            return

        async def go() -> bool:
            async with self.db.uow() as uow:
                order = await uow.session.get(Order, order_id)
                assert order is not None
                buyer = await uow.session.get(User, order.buyer_id)
                try:
                    await actions.cancel_order(uow, self.gate, buyer, order)
                except e.WrongOrderState:
                    await uow.rollback()
                    return False
                return True

        changed = self.run(go())
        assert changed == (self.model[order_id] in ALLOWED["cancel"])
        if changed:
            self.model[order_id] = OrderState.CANCELLED

    @rule(pick=st.integers(0, 1000), late=st.booleans())
    def expire(self, pick: int, late: bool) -> None:
        """The expiry task looks at an order, before or after its pay-by time."""
        order_id = self._pick(pick)
        if order_id is None:
            return
        when = utcnow() + (timedelta(hours=1) if late else timedelta(0))

        async def go() -> bool:
            async with self.db.uow() as uow:
                return await actions.expire_order(uow, self.gate, order_id, when) is not None

        changed = self.run(go())
        assert changed == (late and self.model[order_id] in ALLOWED["expire"])
        if changed:
            self.model[order_id] = OrderState.EXPIRED

    @invariant()
    def units_add_up(self) -> None:
        if not hasattr(self, "shop"):
            return

        async def go() -> None:
            async with self.db.uow(write=False) as uow:
                await check_invariants(uow, self.shop)
                stored = {oid: state for oid, state in await uow.session.execute(sa.select(Order.id, Order.state))}
                assert stored == self.model

        self.run(go())


def test_orders_and_stock_keep_their_invariants(template_db: Path, tmp_path: Path) -> None:
    Orders.template = template_db
    Orders.workdir = tmp_path
    run_state_machine_as_test(
        Orders,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
