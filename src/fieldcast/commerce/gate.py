"""The stock gate: the first, fast check of a show's stock and per-buyer limits, in front of the
database.

The database is the record: every order reserves its units there with a guarded UPDATE, inside
the order's transaction, so nothing is ever oversold whatever the gate says. In Redis mode the
gate holds, per item on a show's shelf (a session and a SKU), the pool's available units, its
per-buyer limit, a flash sale's start and each buyer's units; one Lua script checks the start,
the units and the buyer's limit and takes them, by Redis' clock. A buyer who comes too late is
answered by Redis alone: no database read, no row lock. If the order's transaction then fails,
the units go back to the gate. Without Redis the gate admits everyone and the database decides.

A flash sale's taps can also be decided here outright (`claim`): the units are taken and a claim
queued in a Redis stream, whose order payments/claims.py writes just behind; until then its
units count as "pending" in the pool.

Redis and the database can drift (a process killed between the gate and its commit keeps units
taken in Redis); the reconciler (commerce/reconcile.py) compares and repairs, at start-up,
periodically and when a show ends."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

import redis.asyncio as aioredis
from hiredis import pack_command
from redis.exceptions import NoScriptError

REDIS_TIMEOUT_S = 2.0
PEEK_BATCH_MAX = 500  # peeks sent in one pipeline (one round trip) at most
POOL_TTL_S = 7 * 24 * 3600  # a pool outlives its show by days; the reconciler reloads it anyway


class Taken(Enum):
    YES = 1  # taken here (or nothing to take here): now ask the database
    SOLD_OUT = 0
    OVER_LIMIT = -1
    NOT_STARTED = -3


@dataclass(frozen=True)
class PoolState:
    """What the gate holds for a shelf item: available units (None: the item has no pool of its
    own and sells from its SKU, which only the database counts), the per-buyer limit, a flash
    sale's start, and units per buyer."""

    available: int | None
    buyers: dict[int, int] = field(default_factory=dict)
    per_buyer_limit: int | None = None
    starts_at: datetime | None = None
    pending: int = 0  # units taken by claims not written to the database yet (not compared)

    def same_as(self, other: PoolState | None) -> bool:
        """Equal as the gate can hold it (start times to the millisecond)."""

        def ms(moment: datetime | None) -> int:
            return int(moment.timestamp() * 1000) if moment is not None else 0

        return (
            other is not None
            and (self.available, self.per_buyer_limit or None, ms(self.starts_at))
            == (other.available, other.per_buyer_limit or None, ms(other.starts_at))
            and {k: v for k, v in self.buyers.items() if v > 0} == {k: v for k, v in other.buyers.items() if v > 0}
        )


class Peeked(Enum):
    """What the gate says of an attempt it was only asked about (nothing taken): refuse it at
    once, or let the full checkout decide."""

    ASK = 1  # let the full checkout decide (it may take units)
    REPLAY = 2  # let it through whatever the stock says: it may replay an earlier success
    CLAIMED = 3  # the units are taken and the order is queued (`RedisGate.claim`): answer 202
    SOLD_OUT = 0
    OVER_LIMIT = -1
    NOT_STARTED = -3
    NOT_LOADED = -2  # the gate holds nothing for the item yet: load it from the database, look again
    STALE_AUTH = -4  # the caller's sign-in cache is older than the last revocation: look again


@dataclass(frozen=True)
class Peek:
    verdict: Peeked
    auth_version: str  # the auth version the gate read (for STALE_AUTH: the one to look up under)
    claim_id: str = ""  # CLAIMED: the new claim; REPLAY: the claim its key made, if any


@dataclass(frozen=True)
class Claim:
    """A flash-sale order decided in Redis and not written yet: the units are taken in the gate;
    the claim writer (payments/claims.py) writes the order and its payment, as the checkout
    would have, and settles the claim."""

    claim_id: str
    user_id: int
    session_id: int
    sku_id: int
    units: int
    address_id: int
    scope_hash: str  # the request's Idempotency-Key, as the idempotency middleware records it
    request_hash: str
    entry_id: str = ""  # the stream entry, acknowledged once the claim is settled

    def fields(self) -> dict[str, str]:
        return {
            "claim": self.claim_id,
            "user": str(self.user_id),
            "session": str(self.session_id),
            "sku": str(self.sku_id),
            "units": str(self.units),
            "address": str(self.address_id),
            "scope": self.scope_hash,
            "request": self.request_hash,
        }

    @classmethod
    def of(cls, entry_id: str, fields: dict[str, str]) -> Claim:
        return cls(
            fields["claim"],
            int(fields["user"]),
            int(fields["session"]),
            int(fields["sku"]),
            int(fields["units"]),
            int(fields["address"]),
            fields["scope"],
            fields["request"],
            entry_id,
        )


class StockGate(Protocol):
    backend_errors: int

    async def take(self, session_id: int, sku_id: int, user_id: int, units: int) -> Taken:
        """Take `units` of the item for the buyer. SOLD_OUT, OVER_LIMIT and NOT_STARTED are told
        to the buyer at once; YES means only "now ask the database". NotLoaded when the gate
        holds nothing for the item yet."""
        ...

    async def give_back(self, session_id: int, sku_id: int, user_id: int, units: int) -> None:
        """Return units taken by `take` (the order failed, expired or was cancelled)."""
        ...

    async def load(self, session_id: int, sku_id: int, state: PoolState, *, replace: bool = True) -> None:
        """Set the item to the database's numbers: a repair (replace), or a first use, which
        leaves an item that another process loaded meanwhile as it is (its takes count)."""
        ...

    async def state(self, session_id: int, sku_id: int) -> PoolState | None:
        """The item as the gate holds it; None when it holds nothing for it."""
        ...

    async def drop(self, session_id: int, sku_id: int) -> None: ...

    async def close(self) -> None: ...


class NotLoaded(Exception):
    """The gate holds nothing for this item yet: the caller loads it from the database."""


class OpenGate:
    """No Redis: admit every attempt; the database's guarded updates decide (embedded mode,
    PostgreSQL alone)."""

    backend_errors = 0

    async def take(self, session_id: int, sku_id: int, user_id: int, units: int) -> Taken:
        return Taken.YES

    async def give_back(self, session_id: int, sku_id: int, user_id: int, units: int) -> None:
        return None

    async def load(self, session_id: int, sku_id: int, state: PoolState, *, replace: bool = True) -> None:
        return None

    async def state(self, session_id: int, sku_id: int) -> PoolState | None:
        return None

    async def drop(self, session_id: int, sku_id: int) -> None:
        return None

    async def close(self) -> None:
        return None


# KEYS: meta (hash: available, limit, starts_ms; available "-" = no pool), buyers (hash user ->
# units). ARGV: user, units. Returns a Taken value, or -2 when the item is not loaded.
_TAKE = """
local meta = redis.call('HMGET', KEYS[1], 'available', 'limit', 'starts_ms')
if not meta[1] then return -2 end
local starts = tonumber(meta[3] or '0')
if starts > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) < starts then return -3 end
end
if meta[1] == '-' then return 1 end
local units = tonumber(ARGV[2])
if tonumber(meta[1]) < units then return 0 end
local limit = tonumber(meta[2] or '0')
if limit > 0 then
  local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if held + units > limit then return -1 end
end
redis.call('HINCRBY', KEYS[1], 'available', -units)
redis.call('HINCRBY', KEYS[2], ARGV[1], units)
return 1
"""

# KEYS: meta, buyers. ARGV: user, units.
_GIVE_BACK = """
local available = redis.call('HGET', KEYS[1], 'available')
if not available or available == '-' then return 0 end
redis.call('HINCRBY', KEYS[1], 'available', ARGV[2])
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1
"""

# KEYS: meta, buyers. ARGV: replace (1/0), available ("-" = no pool), limit, starts_ms, ttl, then
# user, units pairs.
# Units of claims not written yet are kept out of the database's figure (they are sold).
_LOAD = """
if ARGV[1] == '0' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local pending = tonumber(redis.call('HGET', KEYS[1], 'pending') or '0')
local available = ARGV[2]
if available ~= '-' then available = tostring(math.max(0, tonumber(available) - pending)) end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'available', available, 'limit', ARGV[3], 'starts_ms', ARGV[4], 'pending', pending)
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""


# The flash-sale fast path's look (payments/fast_refusal.py): the verdict `take` would give a
# buyer too late, without taking anything, so that a refusal needs no database. (Taking here too,
# for the checkout to claim, would hold units while the request queues for the database, and the
# reconciler, which cannot tell such units from ones a killed process left taken, would put them
# back on sale.)
# KEYS: meta, buyers, seen (this caller's Idempotency-Key, or "" without one), auth version.
# ARGV: user, units, the caller's auth version, seen TTL.
# Returns {Peeked value, auth version[, what the seen key holds]}. Whatever is not refused here is
# let through to the full checkout, and its Idempotency-Key is remembered first: a later request
# with the same key (a replay of what may have been a success) is let through too, whatever the
# stock says then (REPLAY). A buyer who holds units of the item is let through as well (REPLAY: a replay whose
# key was never seen). Without a seen key (a request looked at again while it waits), neither.
_PEEK = """
local version = redis.call('GET', KEYS[4]) or '0'
if version ~= ARGV[3] then return {-4, version} end
local function ask(verdict)
  if KEYS[3] ~= '' then redis.call('SET', KEYS[3], '1', 'EX', ARGV[4]) end
  return {verdict, version}
end
if KEYS[3] ~= '' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {2, version, seen} end
end
local meta = redis.call('HMGET', KEYS[1], 'available', 'limit', 'starts_ms')
if not meta[1] then return {-2, version} end
if meta[1] == '-' then return ask(1) end
if KEYS[3] ~= '' and tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') > 0 then return ask(2) end
local starts = tonumber(meta[3] or '0')
if starts > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) < starts then return {-3, version} end
end
local units = tonumber(ARGV[2])
if tonumber(meta[1]) < units then return {0, version} end
local limit = tonumber(meta[2] or '0')
if limit > 0 then
  local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if held + units > limit then return {-1, version} end
end
return ask(1)
"""

# The flash-sale fast path's decision (payments/fast_refusal.py, with an Idempotency-Key): as
# _PEEK, but a buyer who may have the units gets them here, in Redis, with a claim that the claim
# writer (payments/claims.py) turns into the order. Only for a flash sale's pool: anything else is
# let through to the full checkout as by _PEEK.
# KEYS: meta, buyers, seen, auth version, claims stream, the claim's record.
# ARGV: user, units, the caller's auth version, seen TTL, claim id, stream MAXLEN, then the
# claim's stream fields (name, value pairs).
# Returns {Peeked value, auth version, claim id ('' for none)}. A key seen before is a REPLAY,
# with the claim it made if it made one.
_CLAIM = """
local version = redis.call('GET', KEYS[4]) or '0'
if version ~= ARGV[3] then return {-4, version, ''} end
local seen = redis.call('GET', KEYS[3])
if seen then
  if seen == '1' then return {2, version, ''} end
  return {2, version, seen}
end
local meta = redis.call('HMGET', KEYS[1], 'available', 'limit', 'starts_ms')
if not meta[1] then return {-2, version, ''} end
local function ask(verdict)
  redis.call('SET', KEYS[3], '1', 'EX', ARGV[4])
  return {verdict, version, ''}
end
local starts = tonumber(meta[3] or '0')
if meta[1] == '-' or starts == 0 then return ask(1) end
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') > 0 then return ask(2) end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) < starts then return {-3, version, ''} end
local units = tonumber(ARGV[2])
if tonumber(meta[1]) < units then return {0, version, ''} end
local limit = tonumber(meta[2] or '0')
if limit > 0 and units > limit then return {-1, version, ''} end
redis.call('HINCRBY', KEYS[1], 'available', -units)
redis.call('HINCRBY', KEYS[1], 'pending', units)
redis.call('HINCRBY', KEYS[2], ARGV[1], units)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', unpack(ARGV, 7))
redis.call('HSET', KEYS[6], 'state', 'pending', 'user', ARGV[1])
redis.call('EXPIRE', KEYS[6], ARGV[4])
redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[4])
return {3, version, ARGV[5]}
"""

# KEYS: meta, the claim's record. ARGV: units, state, result, TTL. The claim's units are no longer
# pending: written to the database (ordered), or given back (failed).
_SETTLE = """
local pending = tonumber(redis.call('HGET', KEYS[1], 'pending') or '0')
if pending > 0 then redis.call('HSET', KEYS[1], 'pending', math.max(0, pending - tonumber(ARGV[1]))) end
redis.call('HSET', KEYS[2], 'state', ARGV[2], 'result', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

CLAIMS_STREAM = "fc:flash-claims"
CLAIMS_GROUP = "claim-writers"
CLAIM_PREFIX = "fc:claim:"
CLAIMS_MAXLEN = 100_000  # entries kept in the stream (settled ones are only history)

AUTH_VERSION_KEY = "fc:auth-version"
SEEN_TTL_S = 24 * 3600  # as long as an Idempotency-Key's response is kept (db/idempotency.py)


class RedisGate:
    """Items in Redis: `fc:pool:<session>:<sku>:meta` and `fc:pool:<session>:<sku>:buyers`."""

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._take = self._redis.register_script(_TAKE)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        self._load = self._redis.register_script(_LOAD)
        self._peek = self._redis.register_script(_PEEK)
        self._claim = self._redis.register_script(_CLAIM)
        self._settle = self._redis.register_script(_SETTLE)
        self.backend_errors = 0
        self._group_made = False
        # Peeks (and claims) that arrive while a pipeline of them is in flight go in the next one:
        # in a flash sale's first seconds every tap peeks, and one command each would open a Redis
        # connection per waiting tap and spend more on the client's bookkeeping than in Redis.
        self._peeks_waiting: list[tuple[Any, list[str], list[Any], asyncio.Future[Any]]] = []
        self._peeks_sender: asyncio.Task[None] | None = None

    @staticmethod
    def _keys(session_id: int, sku_id: int) -> list[str]:
        return [f"fc:pool:{session_id}:{sku_id}:meta", f"fc:pool:{session_id}:{sku_id}:buyers"]

    async def take(self, session_id: int, sku_id: int, user_id: int, units: int) -> Taken:
        try:
            result = int(await self._take(keys=self._keys(session_id, sku_id), args=[user_id, units]))
        except (aioredis.RedisError, OSError):
            # Redis away: the database alone decides (it never oversells); the reconciler mends.
            self.backend_errors += 1
            return Taken.YES
        if result == -2:
            raise NotLoaded(session_id, sku_id)
        return Taken(result)

    async def peek(
        self, session_id: int, sku_id: int, user_id: int, units: int, *, seen_key: str, auth_version: str
    ) -> Peek:
        """The fast path's look (see _PEEK). Raises RedisError/OSError when Redis is away: the
        caller then lets the full checkout decide."""
        meta, buyers = self._keys(session_id, sku_id)
        answer = await self._batched(
            self._peek, [meta, buyers, seen_key, AUTH_VERSION_KEY], [user_id, units, auth_version, SEEN_TTL_S]
        )
        seen = _text(answer[2]) if len(answer) > 2 else ""
        return Peek(Peeked(int(answer[0])), _text(answer[1]), seen if seen != "1" else "")

    async def claim(self, claim: Claim, *, seen_key: str, auth_version: str) -> Peek:
        """The fast path's decision for a tap with an Idempotency-Key (see _CLAIM): CLAIMED when
        the units are taken and the claim queued; otherwise what `peek` would say (REPLAY with
        the claim id when the key made a claim before). Raises RedisError/OSError when Redis is
        away: the caller then lets the full checkout decide."""
        meta, buyers = self._keys(claim.session_id, claim.sku_id)
        fields = [value for pair in claim.fields().items() for value in pair]
        verdict, version, claim_id = await self._batched(
            self._claim,
            [meta, buyers, seen_key, AUTH_VERSION_KEY, CLAIMS_STREAM, CLAIM_PREFIX + claim.claim_id],
            [claim.user_id, claim.units, auth_version, SEEN_TTL_S, claim.claim_id, CLAIMS_MAXLEN, *fields],
        )
        return Peek(Peeked(int(verdict)), _text(version), _text(claim_id))

    async def _batched(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._peeks_waiting.append((script, keys, args, future))
        if (
            self._peeks_sender is None
            or self._peeks_sender.done()
            or self._peeks_sender.get_loop() is not asyncio.get_running_loop()
        ):
            self._peeks_sender = asyncio.get_running_loop().create_task(self._send_peeks())
        return await future

    async def claim_record(self, claim_id: str) -> dict[str, str] | None:
        """A claim's state ("pending", "ordered", "failed"), buyer and result; None when unknown
        (never made, or older than a day)."""
        raw = await self._redis.hgetall(CLAIM_PREFIX + claim_id)
        return {_text(k): _text(v) for k, v in raw.items()} or None

    async def settle(self, claim: Claim, state: str, result: bytes) -> None:
        """The claim is written (or failed, its units given back): record the outcome for the
        buyer's polling, count its units out of the pending ones, and acknowledge its entry."""
        meta, _ = self._keys(claim.session_id, claim.sku_id)
        await self._settle(keys=[meta, CLAIM_PREFIX + claim.claim_id], args=[claim.units, state, result, SEEN_TTL_S])
        if claim.entry_id:
            await self._redis.xack(CLAIMS_STREAM, CLAIMS_GROUP, claim.entry_id)

    @contextlib.asynccontextmanager
    async def _in_group(self) -> AsyncIterator[None]:
        """Around a read of the claims: the writers' group is made on first use, and made again
        after Redis lost the stream (a restart, a flush)."""
        if not self._group_made:
            try:
                await self._redis.xgroup_create(CLAIMS_STREAM, CLAIMS_GROUP, id="0", mkstream=True)
            except aioredis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._group_made = True
        try:
            yield
        except aioredis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                self._group_made = False
            raise

    async def next_claims(self, consumer: str, *, count: int, block_ms: int | None) -> list[Claim]:
        """Claims not yet handed to any writer, for this one (waits up to `block_ms` for some;
        None: not at all)."""
        async with self._in_group():
            answer: Any = await self._redis.xreadgroup(
                CLAIMS_GROUP, consumer, {CLAIMS_STREAM: ">"}, count=count, block=block_ms
            )
        streams = answer.items() if isinstance(answer, dict) else answer or []  # RESP3 or RESP2
        return [_claim_of(entry, fields) for _, entries in streams for entry, fields in entries if fields]

    async def stalled_claims(self, consumer: str, *, idle_ms: int, count: int) -> list[Claim]:
        """Claims handed to a writer that has not settled them for `idle_ms` (its process died):
        now this one's."""
        async with self._in_group():
            answer: Any = await self._redis.xautoclaim(
                CLAIMS_STREAM, CLAIMS_GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=count
            )
        entries = answer[1] if answer else []
        return [_claim_of(entry, fields) for entry, fields in entries if fields]

    async def _send_peeks(self) -> None:
        """Send the waiting peeks, a round trip at a time, until none wait; each waiter gets its
        answer or the error (it then lets the full checkout decide)."""
        while self._peeks_waiting:
            batch = self._peeks_waiting[:PEEK_BATCH_MAX]
            del self._peeks_waiting[:PEEK_BATCH_MAX]
            try:
                answers = await self._run_scripts([(script, keys, args) for script, keys, args, _ in batch])
            except Exception as exc:
                answers = [exc] * len(batch)
            for (_, _, _, future), answer in zip(batch, answers, strict=True):
                if future.done() or future.get_loop().is_closed():  # its caller gave up, or is gone
                    continue
                if isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    async def _run_scripts(self, calls: list[tuple[Any, list[str], list[Any]]]) -> list[Any]:
        """Each call's answer (or its error), all in one round trip. Packed here, in C, and read
        under one deadline: redis-py's pipeline packs each command in Python and arms a timer
        for each answer, which in a flash sale costs the process more than Redis spends on the
        scripts. A script Redis has lost (a restart, SCRIPT FLUSH) is loaded and its calls sent
        again."""

        def packed(n: int) -> bytes:
            script, keys, args = calls[n]
            return bytes(pack_command(("EVALSHA", script.sha, len(keys), *keys, *args)))

        answers = await self._round_trip([packed(n) for n in range(len(calls))])
        lost = [n for n, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if lost:
            for script in {calls[n][0].sha: calls[n][0] for n in lost}.values():
                await self._redis.script_load(script.script)
            again = await self._round_trip([packed(n) for n in lost])
            for n, answer in zip(lost, again, strict=True):
                answers[n] = answer
        return answers

    async def _round_trip(self, commands: list[bytes]) -> list[Any]:
        pool = self._redis.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                await conn.send_packed_command(b"".join(commands), check_health=False)
                answers: list[Any] = []
                for _ in commands:
                    try:
                        answers.append(await conn.read_response(timeout=math.inf))  # the deadline is above
                    except aioredis.ResponseError as exc:  # this command's error; the others' answers follow
                        answers.append(exc)
            return answers
        except BaseException:
            await conn.disconnect()  # a half-read connection is of no use to the next caller
            raise
        finally:
            await pool.release(conn)

    async def give_back(self, session_id: int, sku_id: int, user_id: int, units: int) -> None:
        try:
            await self._give_back(keys=self._keys(session_id, sku_id), args=[user_id, units])
        except (aioredis.RedisError, OSError):
            self.backend_errors += 1  # the reconciler puts the units back from the database

    async def load(self, session_id: int, sku_id: int, state: PoolState, *, replace: bool = True) -> None:
        starts_ms = int(state.starts_at.timestamp() * 1000) if state.starts_at is not None else 0
        args: list[int | str] = [
            int(replace),
            "-" if state.available is None else state.available,
            state.per_buyer_limit or 0,
            starts_ms,
            POOL_TTL_S,
        ]
        for user_id, units in sorted(state.buyers.items()):
            if units > 0:
                args += [user_id, units]
        await self._load(keys=self._keys(session_id, sku_id), args=args)

    async def state(self, session_id: int, sku_id: int) -> PoolState | None:
        meta_key, buyers_key = self._keys(session_id, sku_id)
        meta, buyers = await self._redis.hgetall(meta_key), await self._redis.hgetall(buyers_key)
        if not meta:
            return None
        available = meta[b"available"]
        starts_ms = int(meta.get(b"starts_ms", b"0"))
        return PoolState(
            None if available == b"-" else int(available),
            {int(k): int(v) for k, v in buyers.items()},
            int(meta.get(b"limit", b"0")) or None,
            datetime.fromtimestamp(starts_ms / 1000, tz=UTC) if starts_ms else None,
            int(meta.get(b"pending", b"0")),
        )

    async def available(self, session_id: int, sku_id: int) -> int | None:
        """The units the gate has on sale for the item; None when it holds no pool for it. (One
        field: `state` also reads every buyer's units.)"""
        raw = await self._redis.hget(self._keys(session_id, sku_id)[0], "available")
        return None if raw is None or raw == b"-" else int(raw)

    async def drop(self, session_id: int, sku_id: int) -> None:
        await self._redis.delete(*self._keys(session_id, sku_id))

    async def close(self) -> None:
        await self._redis.aclose()


def _claim_of(entry: Any, fields: Any) -> Claim:
    return Claim.of(_text(entry), {_text(k): _text(v) for k, v in fields.items()})


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def make_gate(redis_url: str) -> StockGate:
    """Pick the adapter once: Redis when a URL is configured, else the database decides alone."""
    return RedisGate(redis_url) if redis_url else OpenGate()
