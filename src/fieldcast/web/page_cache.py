"""Anonymous GETs of public pages and APIs, built once per (site, path, query, language, public
data version) and served from memory.

Why it stays correct:
- The key holds the public data version (realtime/versions.py), which moves after every commit
  that wrote a table an anonymous visitor can see (`changes_public_data`), before the request that
  made the change answers. The next request, to this process or (on Redis) any other, misses and
  rebuilds. A page is built with the version read *before* building, so one built from data that
  changed meanwhile is stored under a version already gone.
- Only anonymous requests are served from here (no Authorization header, no signed-in session),
  and signed-in visitors of the room page (SIGNED_IN_SHELL_PATHS): they get one shell built for
  every signed-in visitor, with nothing of their own in it; the room's script fetches their own
  state (follows, operator and moderator tools, mutes, claims, draws entered) from
  /api/v1/sessions/<id>/me. The page is built for a visitor with an empty session. A visitor
  without a session cookie gets it as it is, with no CSRF token and no cookie: the same bytes for
  everyone, public for a second (nginx or a CDN may hold it), and static/session.js asks for the
  session when the page first needs one. A visitor with a session gets its own CSRF token in the page (templates get
  `CSRF_MARKER` while building) and the session values the page would have set (the room page's
  anonymous viewer id), signed into the session cookie as Starlette's SessionMiddleware does.
  The server's clock (`NOW_MARKER`) is put in for everyone when served.
- A page that depends on the clock says until when it holds (`valid_until`: a flash sale that has
  not started); every entry also expires after `ttl_s`, a bound for changes made outside any app
  process (a restore from backup, a hand edit in psql).
- When the version cannot be read (Redis away), the cache is bypassed.

Concurrent misses for one key share one build (a show's opening second does not build the room
page 32 times). Entries are bounded in number and bytes (least recently used go first)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcast.session_cookie import SESSION_CSRF, SESSION_USER, SESSION_VIEWER, SessionCookie, new_viewer_id
from fieldcast.web.etag import if_none_match_hits
from fieldcast.web.middleware import cookie_value

# Stand-ins written while a page is built for the cache, replaced per request when served.
CSRF_MARKER = "fc-csrf-" + secrets.token_hex(12)
NOW_MARKER = "fc-now-" + secrets.token_hex(12)
BUILD = "fc_page_build"  # scope key: this request builds a cache entry (a dict of what it learns)
# Scope key: the page being built is the shell a signed-in visitor gets (see SIGNED_IN_SHELL_PATHS).
SIGNED_IN = "fc_page_signed_in"

# Session values a page may set for an anonymous visitor, and how each is made when serving.
SESSION_VALUES: dict[str, Callable[[], str]] = {
    SESSION_CSRF: lambda: secrets.token_urlsafe(24),
    SESSION_VIEWER: new_viewer_id,
}

# The public pages and APIs whose anonymous GETs are cached.
CACHEABLE = re.compile(
    r"^/(?:|live|live/\d+|p/\d+|products|s/[^/]+|events|events/[^/]+"
    r"|api/v1/products|api/v1/products/\d+|api/v1/sessions|api/v1/sessions/\d+|api/v1/events|api/v1/events/[^/]+)$"
)
# Pages a signed-in visitor is served from here too, as one shell for every signed-in visitor: the
# page holds nothing of the visitor's own (no name, no follow state, no operator or moderator tools,
# no claims); the page's script fetches those from its own small API (the room's
# /api/v1/sessions/<id>/me) and applies them. The room page is what a show's whole audience loads.
SIGNED_IN_SHELL_PATHS = re.compile(r"^/live/\d+$")
CACHED_STATUSES = frozenset({200, 404})
BODY_MAX = 1024 * 1024  # a bigger response is served but not kept
# What a shared cache in front (nginx's micro-cache, a CDN) may do with an answer: hold one for a
# visitor without a session for a second; never one that carries a visitor's session.
PUBLIC = b"public, max-age=1"
PRIVATE = b"private, no-cache"
VARY = b"Accept-Language, Cookie, Authorization"

# Tables whose writes never change what an anonymous visitor is shown: private to a user or an
# order, or bookkeeping. A write to any other table moves the public data version.
PRIVATE_TABLES = frozenset(
    {
        "outbox",
        "idempotent_requests",
        "audit_log",
        "audit_heads",  # read only by /audit and /api/v1/audit/heads, which are not cached
        "notifications",
        "api_tokens",
        "revoked_sessions",
        "stream_keys",
        "addresses",
        "cart_lines",
        "payments",
        "payment_orders",
        "payment_notifications",
        "refunds",
        "sandbox_transactions",
        "sandbox_refunds",
        "tracking_events",
        "buyer_tallies",
        "invitations",
        # A clip's counted views and the orders from it: read only by its organisation and reports.
        "clip_views",
        "clip_orders",
    }
)
# Writes that leave the cached pages right although the table is public: a new chat line reaches
# every open room by its socket, and a page that shows older lines fetches the newer ones
# (static/live/room_live.js, catchUp). Removing a line (an update) does move the version.
QUIET_WRITES = frozenset({("chat_messages", "insert")})


def changes_public_data(written: frozenset[tuple[str, str]]) -> bool:
    return any(table not in PRIVATE_TABLES and (table, op) not in QUIET_WRITES for table, op in written)


class VersionSource(Protocol):
    async def current(self) -> int | None: ...


def building(request: Request) -> bool:
    return BUILD in request.scope


def signed_in_shell(request: Request) -> bool:
    """The page being built is the signed-in visitors' shell: show what any signed-in visitor sees
    (the chat form, Sign out) and nothing of one visitor's own."""
    return bool(request.scope.get(SIGNED_IN))


def valid_until(request: Request, when: datetime) -> None:
    """The page being built is right only until `when` (a flash sale starts, a countdown ends)."""
    build = request.scope.get(BUILD)
    if build is not None:
        seconds = (when - datetime.now(UTC)).total_seconds()
        build["until"] = min(build.get("until", float("inf")), time.monotonic() + max(0.0, seconds))


def server_now_text(request: Request, now: datetime) -> str:
    """The server's clock as a page shows it: the marker while building, replaced when served."""
    return NOW_MARKER if building(request) else now.isoformat()


@dataclass
class Entry:
    version: int
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    session_keys: frozenset[str]  # session values the page sets (made per visitor when served)
    personal: bool  # the body holds markers to replace per request
    etag: bytes | None
    expires: float  # time.monotonic()
    route: Any = None  # the matched route (the metrics label reads its path template)

    @property
    def size(self) -> int:
        return len(self.body) + 64 * len(self.headers)


class _NotCacheable(Exception):
    pass


class PageCache:
    def __init__(
        self,
        app: ASGIApp,
        version: VersionSource,
        *,
        secret_key: str,
        session_cookie: str,
        max_age: int,
        https_only: bool,
        ttl_s: float = 30.0,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.version = version
        self.cookie = SessionCookie(secret_key, max_age)
        self.session_cookie = session_cookie
        self.cookie_tail = f"; path=/; Max-Age={max_age}; httponly; samesite=lax" + ("; secure" if https_only else "")
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()
        self.bytes = 0
        self.building: dict[tuple[Any, ...], asyncio.Future[Entry]] = {}
        self.hits = 0
        self.misses = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not CACHEABLE.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        host = b""
        raw_cookie = b""
        if_none_match = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                await self.app(scope, receive, send)
                return
            if name == b"host":
                host = value
            elif name == b"cookie":
                raw_cookie = value
            elif name == b"if-none-match":
                if_none_match = value
        session: dict[str, Any] = {}
        signed_in = False
        if raw_cookie and self.session_cookie.encode() in raw_cookie:
            session = self.cookie.read(cookie_value(raw_cookie, self.session_cookie))
            if session.get(SESSION_USER) is not None:
                if not SIGNED_IN_SHELL_PATHS.match(scope["path"]):
                    await self.app(scope, receive, send)
                    return
                signed_in = True
        version = await self.version.current()
        if version is None:
            await self.app(scope, receive, send)
            return
        language = scope["state"].get("language")
        key = (scope["scheme"], host, scope["path"], scope["query_string"], language, signed_in)
        entry = self.entries.get(key)
        if entry is not None and entry.version >= version and entry.expires > time.monotonic():
            self.entries.move_to_end(key)
            self.hits += 1
        else:
            try:
                entry = await self._entry(key, version, scope, receive, signed_in)
            except _NotCacheable:
                await self.app(scope, receive, send)
                return
        if entry.route is not None:
            scope["route"] = entry.route
        await self._serve(entry, session, if_none_match, send)

    async def _entry(
        self, key: tuple[Any, ...], version: int, scope: Scope, receive: Receive, signed_in: bool
    ) -> Entry:
        pending = self.building.get(key)
        if pending is not None:
            entry = await asyncio.shield(pending)
            if entry.version >= version:
                return entry
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self.building[key] = future
        try:
            entry = await self._build(version, scope, receive, signed_in)
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else _NotCacheable())
            future.exception()  # retrieved: a build no one else waited for must not warn
            raise
        finally:
            if self.building.get(key) is future:
                del self.building[key]
        future.set_result(entry)
        self.misses += 1
        self._keep(key, entry)
        return entry

    async def _build(self, version: int, scope: Scope, receive: Receive, signed_in: bool) -> Entry:
        """Run the request with an empty session, as an anonymous visitor or (`signed_in`) as the
        shell every signed-in visitor gets; keep what it answers."""
        learned: dict[str, Any] = {}
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"cookie", b"if-none-match")]
        build_scope = {**scope, "headers": headers, BUILD: learned, "state": dict(scope.get("state", {}))}
        if signed_in:
            build_scope[SIGNED_IN] = True
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await self.app(build_scope, no_body, capture)
        if start is None or start["status"] not in CACHED_STATUSES:
            raise _NotCacheable
        body = b"".join(chunks)
        session = build_scope.get("session") or {}
        session_keys = frozenset(k for k in session if k != SESSION_CSRF)
        if len(body) > BODY_MAX or not session_keys <= SESSION_VALUES.keys():
            raise _NotCacheable
        kept: list[tuple[bytes, bytes]] = []
        for name, value in start.get("headers", []):
            lowered = name.lower()
            if lowered in (b"set-cookie", b"content-length", b"etag", b"cache-control", b"vary"):
                continue
            kept.append((lowered, value))
        kept.append((b"vary", VARY))  # the language is negotiated; sessions and tokens bypass
        personal = CSRF_MARKER.encode() in body or NOW_MARKER.encode() in body
        if CSRF_MARKER.encode() in body:
            session_keys |= {SESSION_CSRF}
        etag = None if personal else b'W/"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        until = min(learned.get("until", float("inf")), time.monotonic() + self.ttl_s)
        return Entry(
            version, start["status"], kept, body, session_keys, personal, etag, until, build_scope.get("route")
        )

    def _keep(self, key: tuple[Any, ...], entry: Entry) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        self.entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes and self.entries:
            _, dropped = self.entries.popitem(last=False)
            self.bytes -= dropped.size

    async def _serve(self, entry: Entry, session: dict[str, Any], if_none_match: bytes, send: Send) -> None:
        """A visitor with a session gets its CSRF token (and any session value the page sets) in
        the page, privately. A visitor without one gets the page with no token and no cookie, the
        same bytes for everyone: public for a second, so nginx or a CDN may hold it (static/session.js
        asks for a session when the page first needs one)."""
        headers = list(entry.headers)
        body = entry.body
        shared = not session
        if entry.session_keys and not shared:
            missing = [k for k in entry.session_keys if not session.get(k)]
            if missing:
                session = {**session, **{k: SESSION_VALUES[k]() for k in missing}}
                headers.append((b"set-cookie", self._cookie(session)))
        if entry.personal:
            token = b"" if shared or SESSION_CSRF not in entry.session_keys else str(session[SESSION_CSRF]).encode()
            body = body.replace(CSRF_MARKER.encode(), token)
            body = body.replace(NOW_MARKER.encode(), datetime.now(UTC).isoformat().encode())
        headers.append((b"cache-control", PUBLIC if shared else PRIVATE))
        if entry.etag is not None:
            headers.append((b"etag", entry.etag))
            if if_none_match and if_none_match_hits(if_none_match.decode("latin-1"), entry.etag.decode()):
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": entry.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _cookie(self, session: dict[str, Any]) -> bytes:
        return self.session_cookie.encode() + b"=" + self.cookie.sign(session) + self.cookie_tail.encode()
