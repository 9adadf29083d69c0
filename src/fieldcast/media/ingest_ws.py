"""Browser go-live: the host console streams MediaRecorder chunks over a WebSocket into ffmpeg.

Protocol: the client sends one text frame `{"mime": "video/webm;codecs=vp8,opus"}` (or
`video/mp4` from Safari), then binary chunks (a MediaRecorder timeslice of ~250 ms keeps the
delay low), and `{"action": "stop"}` or a normal close to stop. The server answers with text frames
`{"status": "ready"}` once the pipeline runs, `{"status": "live", "hls_url": ...}` once viewers
can play it, and on refusal `{"status": "error", "detail": ...}` followed by a close code:
4400 bad first message, 4401 not signed in, 4403 not allowed (or foreign origin), 4404 unknown
session, 4409 ended or cancelled, 4413 chunk too large, 4415 unsupported format, 4429 too fast,
4408 no data for too long, 1011 the pipeline failed.

Authentication is the signed session cookie; the Origin must be this site, or any page on the
web could make a signed-in host's browser open this socket (cross-site WebSocket hijacking)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from fieldcast.accounts.auth import session_cookie_user
from fieldcast.errors import DomainError, NotAuthenticated, NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.live import actions
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.live.paths import live_playlist_url
from fieldcast.live.queries import load_session
from fieldcast.media.backend import IngestHandle, UnsupportedInput
from fieldcast.media.ffmpeg import IngestClosed
from fieldcast.media.hooks import MediaServices, media_services

log = logging.getLogger(__name__)

router = APIRouter()

MAX_CHUNK_BYTES = 4 * 1024 * 1024
# A phone camera at 720p records ~2.5 Mbit/s; 16 Mbit/s over a few seconds is no camera.
MAX_RATE_BYTES_S = 2 * 1024 * 1024
RATE_WINDOW_S = 5.0
HELLO_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 15.0
START_TIMEOUT_S = 20.0
# While streaming, the host's right to run the show is checked again this often: a host whose
# role is removed mid-show loses the stream within it (live.actions.is_session_operator).
REAUTHORISE_S = 10.0

CLOSE_BAD_REQUEST = 4400
CLOSE_NOT_SIGNED_IN = 4401
CLOSE_NOT_ALLOWED = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_ENDED = 4409
CLOSE_TOO_LARGE = 4413
CLOSE_UNSUPPORTED = 4415
CLOSE_TOO_FAST = 4429
CLOSE_PIPELINE = 1011


class Refused(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def same_origin(websocket: WebSocket, public_url: str) -> bool:
    """Browsers always send Origin on WebSockets; it must name this site (as reached, or as
    configured behind a proxy). Clients without one (scripts, the benchmark) carry no ambient
    cookie risk."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    allowed = {websocket.headers.get("host", "").lower()}
    if public_url:
        allowed.add(urlsplit(public_url).netloc.lower())
    return bool(netloc) and netloc in allowed


async def _authorise(ctx: MediaServices, websocket: WebSocket, session_id: Id) -> LiveSession:
    async with ctx.uow() as uow:
        user = await session_cookie_user(websocket, uow.session)
        live = await load_session(uow.session, session_id)
        if live is None:
            raise NotFound(N_("No such session."))
        await actions.require_session_operator(uow.session, user, live)
        return live


def _refusal(exc: DomainError) -> Refused:
    if isinstance(exc, NotAuthenticated):
        return Refused(CLOSE_NOT_SIGNED_IN, gettext(N_("Please sign in first.")))
    if isinstance(exc, NotFound):
        return Refused(CLOSE_NOT_FOUND, gettext(N_("No such session.")))
    return Refused(CLOSE_NOT_ALLOWED, gettext(N_("Only this session's hosts and organisers may do this.")))


async def _hello(websocket: WebSocket) -> str:
    """The first frame names the recording format."""
    try:
        text = await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT_S)
        mime = json.loads(text)["mime"]
    except (TimeoutError, KeyError, TypeError, ValueError) as exc:
        raise Refused(CLOSE_BAD_REQUEST, gettext(N_("Start by sending the recording format."))) from exc
    if not isinstance(mime, str) or not mime or len(mime) > 200:
        raise Refused(CLOSE_BAD_REQUEST, gettext(N_("Start by sending the recording format.")))
    return mime


class _RateGuard:
    """Average bytes per second over short windows; a runaway client is cut off, not buffered."""

    def __init__(self) -> None:
        self.window_start = time.monotonic()
        self.bytes = 0

    def add(self, size: int) -> None:
        now = time.monotonic()
        if now - self.window_start >= RATE_WINDOW_S:
            self.window_start, self.bytes = now, 0
        self.bytes += size
        if self.bytes > MAX_RATE_BYTES_S * RATE_WINDOW_S:
            raise Refused(CLOSE_TOO_FAST, gettext(N_("The video arrives faster than a camera can record it.")))


async def _announce_live(websocket: WebSocket, ctx: MediaServices, ingest: IngestHandle, live: LiveSession) -> None:
    """Tell the console once viewers can play the stream."""
    if not await ingest.wait_started(START_TIMEOUT_S):
        return
    async with ctx.uow() as uow:
        current = await load_session(uow.session, live.id)
    if current is not None and current.state == SessionState.LIVE:
        url = live_playlist_url(ctx.settings.hls_base_url, live.stream_name)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):  # the host may be gone already
            await websocket.send_text(json.dumps({"status": "live", "hls_url": url}))


async def _pump(
    websocket: WebSocket, ingest: IngestHandle, still_allowed: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Chunks from the socket into ffmpeg until the client stops or something breaks;
    `still_allowed` is awaited every REAUTHORISE_S and refuses by raising."""
    guard = _RateGuard()
    checked = time.monotonic()
    while True:
        if still_allowed is not None and time.monotonic() - checked >= REAUTHORISE_S:
            await still_allowed()
            checked = time.monotonic()
        try:
            message = await asyncio.wait_for(websocket.receive(), IDLE_TIMEOUT_S)
        except TimeoutError as exc:
            raise Refused(CLOSE_IDLE, gettext(N_("No video arrived for a while; the stream was stopped."))) from exc
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None:
            if message.get("text") and '"stop"' in message["text"]:
                return
            continue
        if len(data) > MAX_CHUNK_BYTES:
            raise Refused(CLOSE_TOO_LARGE, gettext(N_("A video chunk was too large.")))
        guard.add(len(data))
        await ingest.write(data)


async def _close(websocket: WebSocket, code: int, detail: str | None = None) -> None:
    if websocket.client_state != WebSocketState.CONNECTED:
        return
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
        if detail is not None:
            await websocket.send_text(json.dumps({"status": "error", "detail": detail}))
        await websocket.close(code=code)


async def _stopped_reason(ctx: MediaServices, session_id: Id) -> Refused:
    async with ctx.uow() as uow:
        live = await load_session(uow.session, session_id)
    if live is None or live.state in (SessionState.ENDED, SessionState.CANCELLED):
        return Refused(CLOSE_ENDED, gettext(N_("This session has already ended or was cancelled.")))
    return Refused(CLOSE_PIPELINE, gettext(N_("The video could not be processed. Please try again.")))


@router.websocket("/ws/ingest/{session_id}")
async def browser_ingest(websocket: WebSocket, session_id: Id) -> None:
    ctx = media_services(websocket)
    if not same_origin(websocket, ctx.settings.public_url):
        await websocket.close(code=CLOSE_NOT_ALLOWED)  # before accept: the handshake is refused
        return
    await websocket.accept()
    ingest: IngestHandle | None = None
    announcer: asyncio.Task[None] | None = None
    try:
        try:
            live = await _authorise(ctx, websocket, session_id)
        except DomainError as exc:
            raise _refusal(exc) from exc
        if live.state not in (SessionState.SCHEDULED, SessionState.LIVE):
            raise Refused(CLOSE_ENDED, gettext(N_("This session has already ended or was cancelled.")))
        mime = await _hello(websocket)
        try:
            ingest = await ctx.media.open_browser_ingest(live.id, live.stream_name, mime)
        except UnsupportedInput as exc:
            raise Refused(CLOSE_UNSUPPORTED, gettext(N_("This browser records in a format we cannot use."))) from exc
        except OSError as exc:  # ffmpeg missing or not executable
            log.exception("could not start ffmpeg for session %s", live.id)
            raise Refused(CLOSE_PIPELINE, gettext(N_("The video could not be processed. Please try again."))) from exc
        await websocket.send_text(json.dumps({"status": "ready"}))
        announcer = asyncio.create_task(_announce_live(websocket, ctx, ingest, live))

        async def still_allowed() -> None:
            try:
                await _authorise(ctx, websocket, session_id)
            except DomainError as exc:
                raise _refusal(exc) from exc

        try:
            await _pump(websocket, ingest, still_allowed)
        except IngestClosed:
            raise await _stopped_reason(ctx, live.id) from None
        await _close(websocket, 1000)
    except Refused as refused:
        await _close(websocket, refused.code, refused.detail)
    except WebSocketDisconnect:
        pass
    finally:
        if announcer is not None:
            announcer.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError, WebSocketDisconnect, OSError):
                await announcer
        if ingest is not None:
            # End of input: ffmpeg closes the segment and the recording; the backend counts this
            # as ingest stopped and the grace period starts.
            await ingest.close()
