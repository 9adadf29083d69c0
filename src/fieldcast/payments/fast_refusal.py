"""The flash-sale fast path: a buyer who comes too late is told so before FastAPI and before the
database.

In a flash sale nearly every checkout is refused (sold out, over the per-buyer limit, not started
yet). Through the full stack each refusal costs what an order costs up to the gate: routing, the
idempotency key's lock and lookup, the unit of work, the bearer token's lookup. This pure ASGI
middleware, in front of all that for `POST /api/v1/checkout` only (Redis mode), answers those
refusals itself:

1. The request must be a plain flash-sale tap, or it goes to the full stack unchanged: a bearer
   token (a cookie session goes through the full stack, with its CSRF check), a JSON body of at
   most BODY_MAX bytes that is exactly what `CheckoutIn` accepts with one line bought in a live
   room (anything else, a malformed body included, gets the full stack's own 422), and an
   Idempotency-Key, if any, that the idempotency middleware would accept.
2. The token is looked up in a small in-process cache (token hash -> user id, TTL_S), else in the
   database (one indexed read, accounts/token_lookup.py; an unknown, revoked or inactive token
   goes to the full stack, which answers 401). A cached entry carries the sign-in version it was
   read under (`fc:auth-version`, moved after every commit that wrote `api_tokens` or `users`: a revocation,
   a password change, "sign out everywhere", a deactivation); the gate's script compares it, so
   an entry older than the last revocation is looked up again, in any process.
3. The gate's Lua `peek` (commerce/gate.py) gives the verdict `take` would, taking nothing.
   SOLD_OUT, OVER_LIMIT and NOT_STARTED are answered here with the same 409 problem the full
   checkout gives (`checkout.gate_refusal`). Otherwise (ASK) the request goes on to the full
   checkout, which takes the units as it always did, about a database pool's worth at a time;
   one that had to wait for its turn is looked at again first, without its key (the sale may
   have sold out meanwhile; its key, remembered by the first look, would let it through). A
   pool the gate does not hold yet (the sale's first buyers) is loaded from the
   database here, once, as the checkout would. Before letting a request with an
   Idempotency-Key through, the script remembers the key (24 h, as long as the idempotency
   middleware keeps responses): a later request with that key is always let through, so a
   replay of an order that succeeded gets that order, never a 409 (REPLAY). A buyer who holds
   units of the item is let through too (a replay whose key was not remembered, e.g. made while
   Redis was away). A refusal is sent from bytes made once per verdict and language, with the
   headers the security middleware adds: this middleware is in front of all the others.

4. A flash sale's tap with an Idempotency-Key (and no coupon) is decided here outright: the
   gate's Lua `claim` takes the units, queues a claim and answers CLAIMED, and the tap gets 202
   with the claim (payments/claims.py writes its order just behind, and the buyer polls it). A
   retry of that key while the claim is being written gets the same 202; once it is written,
   the full stack replays the order from the key. Anything the claim script does not decide is
   let through as by the peek (FIELDCAST_FLASH_CLAIMS=false: peeks only).

Nothing is written to the database here, so a refusal from here is exactly one from the full
stack minus its cost. When Redis or the database cannot answer, the request goes to the full
stack."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from fieldcast.accounts.security import hash_token
from fieldcast.accounts.token_lookup import TokenLookup
from fieldcast.commerce.checkout import gate_refusal, load_pool
from fieldcast.commerce.gate import Claim, Peek, Peeked, RedisGate
from fieldcast.commerce.models import QUANTITY_MAX
from fieldcast.config import Language
from fieldcast.db.uow import UnitOfWork
from fieldcast.i18n import current_language
from fieldcast.inputs import BIGINT_MAX
from fieldcast.payments.claims import PENDING, Load, claim_answer, new_claim_id
from fieldcast.realtime.versions import DataVersion
from fieldcast.web.idempotency import KEY_MAX, body_then, key_hashes
from fieldcast.web.middleware import language_of, security_headers
from fieldcast.web.problems import domain_problem

log = logging.getLogger(__name__)

PATH = "/api/v1/checkout"
BODY_MAX = 4096  # a one-line checkout is about 100 bytes
TTL_S = 15.0
SOLD_OUT_HINT_S = 0.2  # a sale seen sold out is looked at with the light peek (no claim) this long
CACHE_MAX = 100_000
SEEN_PREFIX = "fc:flash-seen:"
_FIELDS = frozenset({"items", "address_id", "coupon_claim_id"})
_LINE_FIELDS = frozenset({"sku_id", "quantity", "session_id"})

LET_THROUGH = frozenset({Peeked.ASK, Peeked.REPLAY})

# Changes to these tables can end a token's or a user's right to sign in.
AUTH_TABLES = frozenset({"api_tokens", "users", "*"})


def changes_sign_ins(written: frozenset[tuple[str, str]]) -> bool:
    """A commit that may have revoked a token or changed a user (bootstrap moves the version)."""
    return any(table in AUTH_TABLES and op != "insert" for table, op in written)


@dataclass(frozen=True)
class Tap:
    """A flash-sale tap as the fast path reads it."""

    token_hash: str
    idempotency_key: bytes | None
    session_id: int
    sku_id: int
    quantity: int
    address_id: int = 0
    coupon: bool = False  # a coupon is the database's to check: never claimed here


def _id(value: object) -> bool:
    return type(value) is int and 1 <= value <= BIGINT_MAX


def read_tap(headers: list[tuple[bytes, bytes]], body: bytes) -> Tap | None:
    """The tap, or None for anything the full stack must see (its answer may differ)."""
    auth = key = content_type = None
    for name, value in headers:
        if name == b"authorization":
            auth = value
        elif name == b"idempotency-key":
            key = value
        elif name == b"content-type":
            content_type = value
    if auth is None or content_type is None or content_type.split(b";")[0].strip().lower() != b"application/json":
        return None
    scheme, _, token = auth.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    if key is not None and not 0 < len(key) <= KEY_MAX:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or not data.keys() <= _FIELDS or not _id(data.get("address_id")):
        return None
    if data.get("coupon_claim_id") is not None and not _id(data["coupon_claim_id"]):
        return None
    items = data.get("items")
    if type(items) is not list or len(items) != 1 or type(items[0]) is not dict:
        return None
    line = items[0]
    quantity = line.get("quantity", 1)
    if (
        not line.keys() <= _LINE_FIELDS
        or not _id(line.get("sku_id"))
        or not _id(line.get("session_id"))
        or type(quantity) is not int
        or not 1 <= quantity <= QUANTITY_MAX
    ):
        return None
    return Tap(
        hash_token(token),
        key,
        line["session_id"],
        line["sku_id"],
        quantity,
        data["address_id"],
        data.get("coupon_claim_id") is not None,
    )


class FastRefusal:
    def __init__(
        self,
        app: ASGIApp,
        *,
        gate: RedisGate,
        lookup: TokenLookup,
        auth_version: DataVersion,
        new_uow: Callable[..., UnitOfWork],
        admit_at_once: int = 10,
        ttl_s: float = TTL_S,
        cache_max: int = CACHE_MAX,
        default_language: Language = "zh-CN",
        headers: list[tuple[bytes, bytes]] | None = None,
        claims: bool = True,
        load: Load | None = None,
    ) -> None:
        self.app = app
        self.load = load or Load()  # checkout taps in flight, which the claim writer gives way to
        self.default_language = default_language
        # In front of the language and security-header middlewares (a refusal passes through
        # nothing else): the headers they would add, and each refusal rendered once per language.
        self.headers = headers if headers is not None else security_headers()
        self.answers: dict[tuple[Peeked, Language], tuple[int, list[tuple[bytes, bytes]], bytes]] = {}
        self.gate = gate
        self.lookup = lookup
        self.auth_version = auth_version
        self.ttl_s = ttl_s
        self.cache_max = cache_max
        # token hash -> (user id, the sign-in version it was read under, expires at)
        self.cache: dict[str, tuple[int, str, float]] = {}
        self.new_uow = new_uow
        self.refused = 0
        # One load of a pool into the gate at a time per item (a sale's first second would
        # otherwise load it once per buyer).
        self.loading: dict[tuple[int, int], asyncio.Future[None]] = {}
        # Checkouts let into the full stack at once (the rest wait here): about the database
        # pool's size, so that they do not queue for a connection until they give up (503).
        self.admitting = asyncio.Semaphore(admit_at_once)
        # A flash sale's taps with an Idempotency-Key are decided here, in the gate, and their
        # orders written just behind (payments/claims.py): off, every tap the gate does not
        # refuse goes on to the full checkout.
        self.claims = claims
        self.sold_out: dict[tuple[int, int], float] = {}  # item -> until when it counts as sold out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        self.load.enter()
        try:
            await self._checkout(scope, receive, send)
        finally:
            self.load.leave()

    async def _checkout(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is None or not declared.isdigit() or int(declared) > BODY_MAX:
            await self.app(scope, receive, send)
            return
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
        tap = read_tap(scope["headers"], body) if len(body) <= BODY_MAX else None
        verdict = Peeked.ASK
        claim_id = ""  # the tap's claim, made now or by an earlier request with its key
        if tap is not None:
            try:
                # A sale this process saw sold out a moment ago is looked at with the light peek
                # (its refusals, and its replays with their claims, are the same); if units came
                # back, the peek lets the tap through to the full checkout.
                claim = None
                if self.claims and self.sold_out.get((tap.session_id, tap.sku_id), 0.0) < time.monotonic():
                    claim = self._claim_of(scope, tap, body)
                peek = await self._decide(tap, claim)
                if peek.verdict is Peeked.SOLD_OUT:
                    self.sold_out[(tap.session_id, tap.sku_id)] = time.monotonic() + SOLD_OUT_HINT_S
                verdict = peek.verdict
                if verdict is Peeked.CLAIMED:
                    claim_id = peek.claim_id
                    self.load.claimed.add((tap.session_id, tap.sku_id))  # the rooms hear of it
                elif verdict is Peeked.REPLAY and await self._pending(peek.claim_id):
                    claim_id = peek.claim_id
            except Exception as exc:  # Redis or the database could not answer: the full stack decides
                log.debug("checkout fast path skipped: %r", exc)
        if claim_id:
            status, headers, content = claim_answer(claim_id)
            await send({"type": "http.response.start", "status": status, "headers": headers + self.headers})
            await send({"type": "http.response.body", "body": content})
            return
        if tap is not None and verdict in LET_THROUGH:
            # On to the full checkout, a database pool's worth at a time (also when the look
            # failed: the full stack would then queue for the same database). A buyer who waited
            # for a place is looked at again when it comes (the sale may have sold out meanwhile),
            # without its key (remembered by the first look, which would let it through): unless
            # it may replay an earlier success, which always gets through.
            fresh = verdict is Peeked.ASK
            waited = self.admitting.locked()
            async with self.admitting:
                if waited and fresh:
                    with contextlib.suppress(Exception):
                        verdict = (await self._decide(tap, again=True)).verdict
                if verdict in LET_THROUGH:
                    await self.app(scope, body_then(body, receive), send)
                    return
        answer = self._answer(scope, verdict) if verdict not in LET_THROUGH else None
        if answer is not None:
            self.refused += 1
            status, headers, content = answer
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})
            return
        await self.app(scope, body_then(body, receive), send)

    def _answer(self, scope: Scope, verdict: Peeked) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The full checkout's refusal for this verdict, in the request's language, as sent (made
        once per verdict and language); None when the verdict refuses nothing."""
        language = language_of(scope, self.default_language)
        cached = self.answers.get((verdict, language))
        if cached is None:
            refusal = gate_refusal(verdict.value)
            if refusal is None:
                return None
            token = current_language.set(language)
            try:
                response = domain_problem(refusal)
            finally:
                current_language.reset(token)
            present = {name for name, _ in response.raw_headers}
            headers = response.raw_headers + [h for h in self.headers if h[0] not in present]
            cached = (response.status_code, headers, bytes(response.body))
            self.answers[(verdict, language)] = cached
        return cached

    def _claim_of(self, scope: Scope, tap: Tap, body: bytes) -> Claim | None:
        """The claim this tap would make (payments/claims.py): with an Idempotency-Key, recorded
        with its order as the idempotency middleware records it; none without a key, or with a
        coupon (both go to the full checkout)."""
        if tap.idempotency_key is None or tap.coupon:
            return None
        scope_hash, request_hash = key_hashes(scope, dict(scope["headers"]), tap.idempotency_key, body)
        return Claim(
            new_claim_id(), 0, tap.session_id, tap.sku_id, tap.quantity, tap.address_id, scope_hash, request_hash
        )

    async def _pending(self, claim_id: str) -> bool:
        """Whether a replayed key's claim is still being written (then it is answered 202 again;
        once written, the full stack replays the order from its Idempotency-Key)."""
        if not claim_id:
            return False
        record = await self.gate.claim_record(claim_id)
        return record is not None and record.get("state") == PENDING

    async def _decide(self, tap: Tap, claim: Claim | None = None, *, again: bool = False) -> Peek:
        """The gate's verdict for this tap (ASK: let the full checkout decide); with `claim`, a
        flash sale's units are taken for it (CLAIMED). `again`: this request was let through
        before (its key is remembered now, so the key is left out, and nothing is claimed)."""
        ask = Peek(Peeked.ASK, "")
        cached = self.cache.get(tap.token_hash)
        if cached is not None and cached[2] > time.monotonic():
            user_id, version = cached[0], cached[1]
        else:
            current = await self.auth_version.current()
            if current is None:
                return ask
            looked = await self._user_of(tap.token_hash, str(current))
            if looked is None:
                return ask  # unknown, revoked or inactive: the full stack answers 401
            user_id, version = looked, str(current)
        seen = ""
        if tap.idempotency_key is not None and not again:
            seen = SEEN_PREFIX + hashlib.sha256(tap.token_hash.encode() + b"\n" + tap.idempotency_key).hexdigest()

        async def look(user_id: int, version: str) -> Peek:
            if claim is not None:  # never with `again`: its first look made or refused the claim
                return await self.gate.claim(replace(claim, user_id=user_id), seen_key=seen, auth_version=version)
            return await self.gate.peek(
                tap.session_id, tap.sku_id, user_id, tap.quantity, seen_key=seen, auth_version=version
            )

        peek = await look(user_id, version)
        if peek.verdict is Peeked.NOT_LOADED:  # the sale's first buyers: load the pool, look again
            await self._load(tap.session_id, tap.sku_id)
            peek = await look(user_id, version)
            if peek.verdict is Peeked.NOT_LOADED:  # not on that shelf: the full stack says so
                return ask
        if peek.verdict is Peeked.STALE_AUTH:  # a revocation since: look the token up again
            self.cache.pop(tap.token_hash, None)
            looked = await self._user_of(tap.token_hash, peek.auth_version)
            if looked is None:
                return ask
            peek = await look(looked, peek.auth_version)
        if peek.verdict in (Peeked.STALE_AUTH, Peeked.NOT_LOADED):
            return ask
        return peek

    async def _load(self, session_id: int, sku_id: int) -> None:
        """Load the item into the gate: the taps that found it missing at the same moment (a
        sale's first few hundred) all wait for one load, rather than each checking in turn."""
        key = (session_id, sku_id)
        loading = self.loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load_now(session_id, sku_id))
            self.loading[key] = loading
            loading.add_done_callback(lambda _: self.loading.pop(key, None))
        await asyncio.shield(loading)

    async def _load_now(self, session_id: int, sku_id: int) -> None:
        async with self.new_uow(write=False) as uow:  # replace=False: one loaded meanwhile stays
            await load_pool(uow, self.gate, session_id, sku_id, replace=False)

    async def _user_of(self, token_hash: str, version: str) -> int | None:
        """The active user of an unrevoked token, read under `version` and cached with it."""
        user_id = await self.lookup.user_of(token_hash)
        if user_id is None:
            self.cache.pop(token_hash, None)
            return None
        if len(self.cache) >= self.cache_max:
            self.cache.pop(next(iter(self.cache)))
        self.cache[token_hash] = (user_id, version, time.monotonic() + self.ttl_s)
        return user_id
