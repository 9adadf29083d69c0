"""Prometheus plumbing of the HTTP layer: a request-duration histogram by route template, and the
`/metrics` endpoint, both pure ASGI. What the endpoint exports beyond requests is handed in by
the caller (pages/metrics.py); this module knows nothing of capabilities.

/metrics is never public: a caller that may not scrape gets exactly what any unknown path gets
(the app's own 404), so it cannot even learn that metrics are on. Who may scrape: with a token,
only callers that present it as `Authorization: Bearer <token>`; without one, loopback callers
only. A token is what makes a reverse proxy on the same host safe, as for the media hooks: a
proxy that does not pass the client's address on makes every caller look like loopback."""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
# Label of requests that matched no route (404s, slash redirects): never the raw path, which a
# client could vary without end.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "fieldcast_http_request_duration_seconds",
        "Time from a request's arrival to the end of its response, by route template, method and status class.",
        ["route", "method", "status"],
        registry=registry,
    )


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/sessions/{session_id}`), read after routing.
    FastAPI puts the route in scope["route"]; a mount (static files, HLS) only grows root_path
    by its prefix, so it is labelled `<prefix>/{path}`."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    if "app_root_path" in scope:
        prefix = str(scope.get("root_path", ""))[len(str(scope["app_root_path"])) :]
        if prefix:
            return prefix + "/{path}"
    return UNMATCHED


class RequestDurations:
    """Observes every HTTP request's duration in `histogram`; WebSocket scopes pass untouched (a
    room socket's frames must not go through one more send wrapper)."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the server answers when the app raises before it responds

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.histogram.labels(route_template(scope), method, f"{status // 100}xx").observe(
                time.perf_counter() - began
            )


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def may_scrape(scope: Scope, token: str) -> bool:
    """With a token: the caller presents it (constant-time compare). Without: loopback only."""
    if token:
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = credentials.strip()
        return hmac.compare_digest(given, token.encode())
    client = scope.get("client")
    return client is not None and _is_loopback(str(client[0]))


Collect = Callable[[], Awaitable[Collector]]


class MetricsEndpoint:
    """Answers `GET /metrics` for callers that may scrape, with what `collect` gathers (read at
    scrape time), in the text format or OpenMetrics as the Accept header asks. Everything else,
    including a refused scrape, goes on to the app."""

    def __init__(self, app: ASGIApp, collect: Collect, token: str, path: str = METRICS_PATH) -> None:
        self.app = app
        self.collect = collect
        self.token = token
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"] != scope.get("root_path", "") + self.path
            or not may_scrape(scope, self.token)
        ):
            await self.app(scope, receive, send)
            return
        accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), "")
        encode, content_type = choose_encoder(accept)
        body = encode(await self.collect())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
