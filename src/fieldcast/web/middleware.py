"""Small ASGI middlewares: request language, request size limit, security headers."""

from __future__ import annotations

from http.cookies import SimpleCookie

from fastapi.exceptions import WebSocketRequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcast.config import Language
from fieldcast.i18n import N_, coerce_language, current_language, gettext, negotiate
from fieldcast.session_cookie import SessionCookie
from fieldcast.web.problems import problem_response

LANG_COOKIE = "fc_lang"


def cookie_value(raw: bytes | None, name: str) -> str | None:
    """One cookie's value from a raw Cookie header; None when absent or the header is malformed."""
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:  # a malformed Cookie header must not break the request
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def language_of(scope: Scope, default: Language) -> Language:
    """The request's language: the fc_lang cookie, else Accept-Language, else `default`."""
    cookie = accept = None
    for name, value in scope["headers"]:
        if name == b"cookie":
            cookie = value
        elif name == b"accept-language":
            accept = value
    return coerce_language(cookie_value(cookie, LANG_COOKIE)) or negotiate((accept or b"").decode("latin-1")) or default


class LanguageMiddleware:
    """Chosen language: the fc_lang cookie, else Accept-Language, else the configured default."""

    def __init__(self, app: ASGIApp, default: Language) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        language = language_of(scope, self.default)
        token = current_language.set(language)
        scope.setdefault("state", {})["language"] = language
        try:
            await self.app(scope, receive, send)
        finally:
            current_language.reset(token)


class BodyLimitMiddleware:
    """Refuse request bodies above the limit with 413, streamed or declared. File uploads
    (multipart/form-data) get their own, larger limit."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        is_upload = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.upload_max_bytes if is_upload else self.max_bytes
        declared = headers.get(b"content-length")
        too_large = problem_response(
            413, "request_too_large", gettext(N_("The request is larger than %(max)s bytes."), max=limit)
        )
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await too_large(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise RequestTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except RequestTooLarge:
            await too_large(scope, receive, send)


class RequestTooLarge(StarletteHTTPException):
    """A streamed (chunked) body went past the limit. An HTTPException, because FastAPI turns any
    other exception raised while it reads a body into a 400; this one it re-raises, and the
    problem handlers answer 413."""

    def __init__(self) -> None:
        super().__init__(413)


class SecurityHeadersMiddleware:
    """Conservative headers on every response; scripts and styles only from this origin. A header
    the response set itself is left alone (a page this site frames: `framable_by_site`)."""

    CSP = (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:{media}; "
        # hls.js plays through MediaSource (blob: URLs) and may run its demuxer in a blob: worker.
        "connect-src 'self' ws: wss:{media}; worker-src 'self' blob:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors {frame}; base-uri 'self'; form-action 'self'"
    )

    def __init__(self, app: ASGIApp, media_origin: str = "") -> None:
        """`media_origin`: where HLS is served when it is not this site (nginx on another host or
        port, a CDN): players must be allowed to fetch playlists and segments from there."""
        self.app = app
        self.HEADERS = security_headers(media_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in self.HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def security_headers(media_origin: str = "") -> list[tuple[bytes, bytes]]:
    """The headers SecurityHeadersMiddleware adds (also to answers given in front of it)."""
    extra = f" {media_origin}" if media_origin else ""
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", SecurityHeadersMiddleware.CSP.format(media=extra, frame="'none'").encode()),
    ]


def framable_by_site(response: Response) -> Response:
    """Let this site's own pages frame `response` (a sheet over the room), and no one else: the
    site's policy with frame-ancestors 'self', which the middleware then leaves as it is. No media
    origin: a framed page plays no video."""
    response.headers["x-frame-options"] = "SAMEORIGIN"
    response.headers["content-security-policy"] = SecurityHeadersMiddleware.CSP.format(media="", frame="'self'")
    return response


# A socket whose path or query parameters are not valid (a room id past the bigint range,
# ?after=abc): RFC 6455's policy violation, sent after accepting so the client sees the code.
CLOSE_INVALID = 1008


class SocketFastPath:
    """Room sockets skip the HTTP middleware stack: every frame sent to every viewer would
    otherwise pass through each middleware's send wrapper (a measurable share of the fan-out).
    They need only the signed session cookie (who is watching). Skipping the stack skips
    FastAPI's exception handlers too, so invalid parameters are answered here: close with 1008."""

    def __init__(
        self, app: ASGIApp, router: ASGIApp, prefix: str, secret_key: str, session_cookie: str, max_age: int
    ) -> None:
        self.app = app
        self.router = router
        self.prefix = prefix
        self.cookie = SessionCookie(secret_key, max_age)
        self.session_cookie = session_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        scope["session"] = self.cookie.read(HTTPConnection(scope).cookies.get(self.session_cookie))
        try:
            await self.router(scope, receive, send)
        except WebSocketRequestValidationError:
            # Raised before the endpoint ran: nothing was received or sent on this socket yet.
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_INVALID, "reason": "invalid parameters"})
