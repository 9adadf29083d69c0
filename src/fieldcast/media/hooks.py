"""nginx-rtmp callbacks (see media/nginx_config.py for where each one is configured).

The ingest application (`live`) asks `on_publish` with the stream key as the name: a valid key,
or the app's signed internal name, of a scheduled or live session is answered with a 302 whose
Location is the session's public stream name, which nginx-rtmp adopts for the relay into the
public application (`show`); anything else gets 403 and nginx drops the publisher. `on_update`
repeats the check while the stream runs, so a rotated key or an ended show loses its stream.
The public application reports `on_relay_publish` / `on_publish_done` under the stream name:
the show is live, or ingest stopped and the reconnect grace period starts.

Callers: with FIELDCAST_MEDIA_HOOK_SECRET set, only requests carrying it (nginx sends it as a
query argument); without it, only loopback. nginx-rtmp reads nothing but the status code."""

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
from fieldcast.media.nginx_config import HOOK_PREFIX
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
    every caller look like loopback); otherwise loopback callers only."""
    secret = settings.media_hook_secret
    if secret:
        given = request.query_params.get("secret", "")
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


async def _session_for_key(session: AsyncSession, settings: Settings, name: str) -> LiveSession | None:
    """A stream key or the app's internal name → its session (never a bare stream name: those
    are public, in every HLS URL)."""
    if not name:
        return None
    session_id = session_id_for_internal_name(settings.resolved_secret_key, name)
    if session_id is None:
        session_id = await session_id_for_key(session, name)
    return await load_session(session, session_id) if session_id is not None else None


async def _session_to_publish(session: AsyncSession, settings: Settings, name: str) -> LiveSession | None:
    """As _session_for_key, and a stream key must still be backed by its maker's authority: a key
    made by a host who has since lost the role publishes nothing (live.host_authority)."""
    live = await _session_for_key(session, settings, name)
    if live is None:
        return None
    key = await unrevoked_key(session, name)
    if key is not None and not await key_may_publish(session, key, live):
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
    """OBS, a phone or the app's relay starts publishing with a key: accept and rename, or refuse."""
    ctx = media_services(request)
    if not authorised(request, ctx.settings):
        return _refuse()
    fields = await hook_fields(request)
    if fields.get("call", "publish") != "publish":
        return _refuse()
    async with ctx.uow() as uow:
        stream_name = await _start(uow, await _session_to_publish(uow.session, ctx.settings, fields.get("name", "")))
    if stream_name is None:
        return _refuse()
    # A bare name (no rtmp://) makes nginx-rtmp rename the stream locally.
    return Response(status_code=302, headers={"Location": stream_name})


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
            live = await _session_to_publish(uow.session, ctx.settings, fields.get("name", ""))
            still_on = live is not None and live.state in OPEN_STATES
    except Exception:  # a database hiccup must not cut a stream that was authorised at start
        log.exception("on_update check failed; keeping the stream")
        return _ok()
    return _ok() if still_on else _refuse()


@router.post("/on_relay_publish")
async def on_relay_publish(request: Request) -> Response:
    """The renamed stream arrives in the public application (also after a relay reconnect)."""
    ctx = media_services(request)
    if not authorised(request, ctx.settings):
        return _refuse()
    fields = await hook_fields(request)
    async with ctx.uow() as uow:
        # Only nginx's loopback application calls this, with the renamed (public) stream name.
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
        live = await load_session_by_stream_name(uow.session, name) or await _session_for_key(
            uow.session, ctx.settings, name
        )
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
