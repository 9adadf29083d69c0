"""Flash-sale claims: an order decided in Redis at the buyer's tap, written to the database just
behind it.

In a flash sale the decision is the scarce thing: 20,000 buyers tap at once for 1,000 units, and
each wants to know at once whether they got one. The fast path (payments/fast_refusal.py) decides
in the gate's Lua script (commerce/gate.py, `_CLAIM`): it takes the units, records the buyer's
claim in a Redis stream and answers 202 with the claim. This writer, running in every serving
process (a Redis consumer group shares the claims out), then writes each claimed order and its
payment through the very checkout the API runs (payments/actions.py), one transaction each, at
the pace the database can take; the buyer's page polls the claim
(`GET /api/v1/checkout/claims/{id}`) until it says "ordered", with the payment to open, or
"failed", with the problem (the address was deleted meanwhile, say), whose units went back on
sale.

The database stays the record. The checkout's guarded UPDATEs still decide (a claim the database
cannot honour fails; nothing is ever oversold), and the claim's Idempotency-Key is recorded with
the order, in the same transaction, exactly as the idempotency middleware would: a claim handed
out twice (its writer died before acknowledging it, and another took it over after CLAIM_IDLE_S)
finds its order instead of writing a second, and the buyer's retry of the request gets the order
(201, replayed) once it is written. Units of claims not written yet are counted apart in the
gate ("pending"), so that neither the reconciler nor a reload of the pool puts them back on sale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from starlette.responses import Response

from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_user
from fieldcast.commerce.checkout import Wanted
from fieldcast.commerce.events import ShelfStock
from fieldcast.commerce.gate import Claim, PoolState, RedisGate, Taken
from fieldcast.db import idempotency as keys
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import DomainError
from fieldcast.payments import actions as a
from fieldcast.payments import schemas as s
from fieldcast.payments.provider import PaymentProvider
from fieldcast.payments.schemas import payment_out_of
from fieldcast.web.problems import domain_problem

log = logging.getLogger(__name__)

BATCH = 50  # claims read at a time
BUSY_AT = 20  # checkout taps being answered at once in a process from which its writer waits
DEFER_MAX_S = 10.0  # ... but a claim is written this long after it was read at the latest
CALM_S = 0.5  # ... and after a burst, this long with fewer taps in flight first
STOCK_NOTICE_S = 0.25  # how often rooms hear the gate's figure while claims wait to be written
BLOCK_MS = 1000  # how long a read waits for new claims
CLAIM_IDLE_S = 30.0  # a claim handed to a writer and not settled this long is taken over

ORDERED = "ordered"
FAILED = "failed"
PENDING = "pending"


def new_claim_id() -> str:
    return secrets.token_hex(16)


def claim_path(claim_id: str) -> str:
    return f"/api/v1/checkout/claims/{claim_id}"


def claim_answer(claim_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The fast path's answer to a claimed tap: 202, the claim and where to poll it."""
    body = s.ClaimOut(claim_id=claim_id, state=PENDING).model_dump_json().encode()
    return (
        202,
        [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"location", claim_path(claim_id).encode()),
            (b"retry-after", b"1"),
        ],
        body,
    )


class Load:
    """Checkout taps being answered in this process now (the fast path counts them). While a
    flash sale's burst is on, the claim writer waits (up to DEFER_MAX_S): answering the taps comes
    first, and the orders are written as the burst subsides, the peak shaved off the database. A
    burst is over when fewer than `busy_at` taps have been in flight for `calm_s` (the count dips
    for a moment between waves of a burst; a claim written in such a dip holds the event loop
    for a whole transaction)."""

    def __init__(self, busy_at: int = BUSY_AT, calm_s: float = CALM_S) -> None:
        self.now = 0
        self.busy_at = busy_at
        self.calm_s = calm_s
        self.quiet = asyncio.Event()  # set while fewer than `busy_at` taps are in flight
        self.quiet.set()
        self.busy_until = 0.0  # monotonic time when it was last busy
        self.claimed: set[tuple[int, int]] = set()  # items (session, SKU) claimed in lately

    def enter(self) -> None:
        self.now += 1
        if self.now >= self.busy_at:
            self.quiet.clear()

    def leave(self) -> None:
        self.now -= 1
        if self.now < self.busy_at and not self.quiet.is_set():
            self.busy_until = time.monotonic()
            self.quiet.set()

    async def calm(self, within_s: float) -> None:
        """Return once the process has not been busy for `calm_s`, or after `within_s` at most."""
        deadline = time.monotonic() + within_s
        while (left := deadline - time.monotonic()) > 0:
            if not self.quiet.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.quiet.wait(), left)
                continue
            calm_for = time.monotonic() - self.busy_until
            if calm_for >= self.calm_s:
                return
            await asyncio.sleep(min(self.calm_s - calm_for, left))


class _Claimed:
    """The gate as a claim's checkout sees it: the units were taken when the claim was made, so
    `take` takes nothing; if the order fails they go back to the real gate."""

    def __init__(self, gate: RedisGate) -> None:
        self.gate = gate
        self.backend_errors = 0

    async def take(self, session_id: int, sku_id: int, user_id: int, units: int) -> Taken:
        return Taken.YES

    async def give_back(self, session_id: int, sku_id: int, user_id: int, units: int) -> None:
        await self.gate.give_back(session_id, sku_id, user_id, units)

    async def load(self, session_id: int, sku_id: int, state: PoolState, *, replace: bool = True) -> None:
        await self.gate.load(session_id, sku_id, state, replace=replace)

    async def state(self, session_id: int, sku_id: int) -> PoolState | None:
        return await self.gate.state(session_id, sku_id)

    async def drop(self, session_id: int, sku_id: int) -> None:
        await self.gate.drop(session_id, sku_id)

    async def close(self) -> None:
        return None


def gate_figure(sku_id: int, available: int | None) -> ShelfStock | None:
    """What the room should show of an item by the gate's count (None: the gate holds no pool)."""
    if available is None:
        return None
    return ShelfStock(sku_id=sku_id, available=available, sold_out=available <= 0)


@dataclass(frozen=True)
class Outcome:
    state: str  # ORDERED or FAILED
    result: bytes  # ORDERED: the PaymentOut; FAILED: the problem


async def write_claim(
    new_uow: Callable[..., UnitOfWork], gate: RedisGate, provider: PaymentProvider, claim: Claim, pay_minutes: int
) -> Outcome:
    """Write a claim's order and payment (or find them, written before) in one transaction,
    with its Idempotency-Key; a refusal gives its units back to the gate."""
    async with new_uow() as uow:
        stored = await keys.take_turn(uow.session, claim.scope_hash)
        if stored is not None:
            return Outcome(ORDERED, stored.body)
        try:
            buyer = require_user(await uow.session.get(User, claim.user_id))  # deactivated since?
            done = await a.checkout(
                uow,
                _Claimed(gate),
                provider,
                buyer,
                [Wanted(claim.sku_id, claim.units, claim.session_id)],
                claim.address_id,
                pay_minutes=pay_minutes,
            )
        except DomainError as exc:
            # The checkout's own guard: the units taken by the claim go back (after_rollback).
            await uow.rollback()
            problem: Response = domain_problem(exc)
            return Outcome(FAILED, bytes(problem.body))
        # The checkout told the room what the database has left; the gate has sold the claims not
        # written yet as well: the room hears the gate's figure last (sold out at once, on every
        # screen, not once the last claim is written).
        figure = gate_figure(claim.sku_id, await gate.available(claim.session_id, claim.sku_id))
        if figure is not None:
            uow.emit(claim.session_id, figure)
        body = orjson.dumps(payment_out_of(done.payment, done.placed.orders).model_dump(mode="json"))
        keys.record(uow.session, claim.scope_hash, claim.request_hash, 201, "application/json", body)
    return Outcome(ORDERED, body)


class ClaimWriter:
    """Writes the claims handed to this process, one at a time, until stopped."""

    def __init__(
        self,
        gate: RedisGate,
        new_uow: Callable[..., UnitOfWork],
        provider: PaymentProvider,
        pay_minutes: int,
        *,
        idle_s: float = CLAIM_IDLE_S,
        load: Load | None = None,
        defer_max_s: float = DEFER_MAX_S,
    ) -> None:
        self.load = load or Load()
        self.defer_max_s = defer_max_s
        self.gate = gate
        self.new_uow = new_uow
        self.provider = provider
        self.pay_minutes = pay_minutes
        self.idle_s = idle_s
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"

    async def run(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        while not stopping.is_set():
            try:
                claims: list[Claim] = []
                if loop.time() >= next_sweep:
                    claims = await self.gate.stalled_claims(self.consumer, idle_ms=int(self.idle_s * 1000), count=BATCH)
                    next_sweep = loop.time() + self.idle_s / 3
                if not claims:
                    claims = await self.gate.next_claims(self.consumer, count=BATCH, block_ms=BLOCK_MS)
                read_at = loop.time()
                for claim in claims:
                    await self.load.calm(self.defer_max_s - (loop.time() - read_at))
                    await self.write(claim)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the database away: the claims wait in the stream
                log.warning("claim writer: %r; will try again in a second", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1.0)

    async def tell_rooms(self, stopping: asyncio.Event) -> None:
        """While claims wait to be written, tell each room the gate's figure every STOCK_NOTICE_S
        when it moved (through the outbox, one small transaction): the cards count down and grey
        out at once, not once the orders are written."""
        told: dict[tuple[int, int], int] = {}
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), STOCK_NOTICE_S)
            items, self.load.claimed = self.load.claimed, set()
            for session_id, sku_id in sorted(items):
                try:
                    figure = gate_figure(sku_id, await self.gate.available(session_id, sku_id))
                    if figure is None or told.get((session_id, sku_id)) == figure.available:
                        continue
                    async with self.new_uow() as uow:
                        uow.emit(session_id, figure)
                    told[(session_id, sku_id)] = figure.available
                except Exception:  # the written claims tell the rooms too
                    log.exception("claim writer: could not tell the room the stock")
            if len(told) > 10_000:
                told.clear()

    async def write(self, claim: Claim) -> Outcome:
        outcome = await write_claim(self.new_uow, self.gate, self.provider, claim, self.pay_minutes)
        await self.gate.settle(claim, outcome.state, outcome.result)
        return outcome
