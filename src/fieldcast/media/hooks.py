"""nginx-rtmp callbacks (see media/nginx_config.py for where each one is configured).

Publishers use `rtmp://host/live/<session stream name>?key=<stream key>`: the name is the
session's public one (it appears in logs and HLS paths), the key a query argument that nginx-rtmp
forwards in its callback body and nothing logs. `on_publish` in the ingest application (`live`)
accepts a valid key (or the app's signed internal name) of a scheduled or live session whose
stream name the publisher used; anything else gets 403 and nginx drops the publisher. `on_update`
repeats the check while the stream runs, so a rotated key or an ended show loses its stream.
The public application (`show`), fed only by nginx's loopback push, reports `on_relay_publish` /
`on_publish_done` under the stream name: the show is live, or ingest stopped and the reconnect
grace period starts.

Callers: with FIELDCAST_MEDIA_HOOK_SECRET set, only requests carrying it in the
X-Fieldcast-Hook-Secret header (nginx's hook server adds it; see nginx_config); without it, only
loopback. nginx-rtmp reads nothing but the status code."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Protocol
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, Response

from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import DomainError
from fieldcast.live import actions
from fieldcast.live.host_authority import key_may_publish
from fieldcast.live.keys import session_id_for_internal_name, session_id_for_key, unrevoked_key
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.live.queries import load_session, load_session_by_stream_name
from fieldcast.media.backend import MediaBackend
from fieldcast.media.nginx_config import HOOK_PREFIX, HOOK_SECRET_HEADER
from fieldcast.web.context import context_of

log = logging.getLogger(__name__)

router = APIRouter(prefix=HOOK_PREFIX, include_in_schema=False)

MAX_HOOK_BODY = 16 * 1024
MAX_FIELDS = 64
OPEN_STATES = (SessionState.SCHEDULED, SessionState.LIVE)


class MediaServices(Protocol):
    """What ingest needs of the process (the composition root's context)."""

    settings: Settings
    media: MediaBackend

    def uow(self, *, write: bool = True) -> UnitOfWork: ...


def media_services(conn: HTTPConnection) -> MediaServices:
    ctx: MediaServices = context_of(conn)
    return ctx


def _ok() -> Response:
    return PlainTextResponse("ok")


def _refuse() -> Response:
    return PlainTextResponse("refused", status_code=403)


def authorised(request: Request, settings: Settings) -> bool:
    """The shared secret when one is configured (a reverse proxy on the same host would make
    every caller look like loopback), in its header (never the URL, which access logs keep);
    otherwise loopback callers only."""
    secret = settings.media_hook_secret
    if secret:
        given = request.headers.get(HOOK_SECRET_HEADER, "")
        return hmac.compare_digest(given.encode(), secret.encode())
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def hook_fields(request: Request) -> dict[str, str]:
    """nginx-rtmp's urlencoded form. The first occurrence of a field wins: nginx writes its own
    fields (app, name, addr, call) before the publisher's query arguments, which could otherwise
    override them. Junk gives an empty dict, never an error."""
    body = await request.body()
    if len(body) > MAX_HOOK_BODY:
        return {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return {}
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


async def _session_for_key(session: AsyncSession, settings: Settings, key: str) -> LiveSession | None:
    """A stream key or the app's internal name → its session (never a bare stream name: those
    are public, in every HLS URL)."""
    if not key:
        return None
    session_id = session_id_for_internal_name(settings.resolved_secret_key, key)
    if session_id is None:
        session_id = await session_id_for_key(session, key)
    return await load_session(session, session_id) if session_id is not None else None


async def _session_to_publish(session: AsyncSession, settings: Settings, fields: dict[str, str]) -> LiveSession | None:
    """The session a publish is for: the key (query argument `key`) must belong to the session
    whose stream name was published, and a stream key must still be backed by its maker's
    authority: a key made by a host who has since lost the role publishes nothing
    (live.host_authority)."""
    key = fields.get("key", "")
    live = await _session_for_key(session, settings, key)
    if live is None or not hmac.compare_digest(live.stream_name.encode(), fields.get("name", "").encode()):
        return None
    row = await unrevoked_key(session, key)
    if row is not None and not await key_may_publish(session, row, live):
        log.info("publish for session %s refused: the key's maker no longer runs the show", live.id)
        return None
    return live


async def _start(uow: UnitOfWork, live: LiveSession | None) -> str | None:
    """Mark the session live; its stream name, or None when it may not go live."""
    if live is None or live.state not in OPEN_STATES:
        return None
    try:
        await actions.ingest_started(uow, live)
    except DomainError as exc:
        await uow.rollback()
        log.info("publish for session %s refused: %s", live.id, exc)
        return None
    return live.stream_name


@router.post("/on_publish")
async def on_publish(request: Request) -> Response:
    """OBS, a phone or the app's relay starts publishing the session's name with its key: accept or refuse."""
    ctx = media_services(request)
    if not authorised(request, ctx.settings):
        return _refuse()
    fields = await hook_fields(request)
    if fields.get("call", "publish") != "publish":
        return _refuse()
    async with ctx.uow() as uow:
        stream_name = await _start(uow, await _session_to_publish(uow.session, ctx.settings, fields))
    return _refuse() if stream_name is None else _ok()


@router.post("/on_update")
async def on_update(request: Request) -> Response:
    """Every few seconds while publishing: is the key still valid and the show still on?"""
    ctx = media_services(request)
    if not authorised(request, ctx.settings):
        return _refuse()
    fields = await hook_fields(request)
    if fields.get("call") != "update_publish":
        return _ok()  # the relay's own (play-side) updates: nothing to decide
    try:
        async with ctx.uow() as uow:
            live = await _session_to_publish(uow.session, ctx.settings, fields)
            still_on = live is not None and live.state in OPEN_STATES
    except Exception:  # a database hiccup must not cut a stream that was authorised at start
        log.exception("on_update check failed; keeping the stream")
        return _ok()
    return _ok() if still_on else _refuse()


@router.post("/on_relay_publish")
async def on_relay_publish(request: Request) -> Response:
    """The accepted stream arrives in the public application (also after a relay reconnect)."""
    ctx = media_services(request)
    if not authorised(request, ctx.settings):
        return _refuse()
    fields = await hook_fields(request)
    async with ctx.uow() as uow:
        # Only nginx's loopback push reaches this application, with the (public) stream name.
        stream_name = await _start(uow, await load_session_by_stream_name(uow.session, fields.get("name", "")))
    return _ok() if stream_name else _refuse()


@router.post("/on_publish_done")
async def on_publish_done(request: Request) -> Response:
    """The stream stopped: note when, and end the show unless it is back within the grace period."""
    ctx = media_services(request)
    if not authorised(request, ctx.settings):
        return _refuse()
    fields = await hook_fields(request)
    name = fields.get("name", "")
    async with ctx.uow() as uow:
        live = await load_session_by_stream_name(uow.session, name)
        if live is None or live.state != SessionState.LIVE:
            return _ok()
        session_id = live.id
        stopped_at = await actions.ingest_stopped(uow, live)
    ctx.media.schedule_end_check(session_id, stopped_at)
    return _ok()


@router.post("/on_record_done")
async def on_record_done(request: Request) -> Response:
    """A recording file is complete; the replay is built from the folder when the show ends."""
    ctx = media_services(request)
    if not authorised(request, ctx.settings):
        return _refuse()
    fields = await hook_fields(request)
    log.info("recording done: %s", fields.get("path", "")[:300])
    return _ok()
