"""Room cards: what a list of rooms shows of each beyond the session itself. A live room shows its
newest still (media/stills.py grabs one a minute) and how many watch it now; a room without a
still shows its cover, and one without a cover a placeholder (the template's).

Loaded for the whole list at once, with no query: one file check per live card, and one call to
the room counters for all of them (the same presence the room page's counters read)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from starlette.requests import HTTPConnection

from fieldcast.catalog.queries import media_url
from fieldcast.config import Settings
from fieldcast.live import schemas as s
from fieldcast.live.models import SessionState
from fieldcast.live.paths import still_media_path
from fieldcast.web.context import context_of

log = logging.getLogger(__name__)


class ViewerCounts(Protocol):
    async def viewers(self, room_ids: Sequence[int]) -> dict[int, int]: ...


class _Hub(Protocol):
    @property
    def counters(self) -> ViewerCounts: ...


class CardServices(Protocol):
    """What the cards need of the process (the composition root's context)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def room_hub(self) -> _Hub: ...


def still_url(media_dir: Path, session_id: int) -> str | None:
    """The room's still with its time in the query (a new still is a new URL), or None."""
    path = still_media_path(session_id)
    try:
        taken = (media_dir / path).stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return f"{media_url(path)}?v={taken // 1_000_000}"


async def cards_of(items: Sequence[s.SessionOut], media_dir: Path, counts: ViewerCounts) -> list[s.SessionCard]:
    live_ids = [x.id for x in items if x.state == SessionState.LIVE]
    viewers: dict[int, int] = {}
    if live_ids:
        try:
            viewers = await counts.viewers(live_ids)
        except Exception:  # the counters' Redis is away: the cards go without a count, not the page
            log.exception("room cards: viewer counts unavailable")
    cards = []
    for x in items:
        card = s.SessionCard(**x.model_dump())
        if x.state == SessionState.LIVE:
            card.still_url = still_url(media_dir, x.id)
            card.viewers = viewers.get(x.id)
        cards.append(card)
    return cards


async def room_cards(conn: HTTPConnection, items: Sequence[s.SessionOut]) -> list[s.SessionCard]:
    """The cards of a page's rooms, from this process's media folder and room counters."""
    ctx: CardServices = context_of(conn)
    return await cards_of(items, ctx.settings.resolved_media_dir, ctx.room_hub.counters)


async def views_of(conn: HTTPConnection, room_ids: Sequence[int]) -> int | None:
    """All views of these rooms, as their counters hold them (the number each room page shows);
    None when the counters cannot be read (never an estimate)."""
    counters = context_of(conn).room_hub.counters
    try:
        return sum([int((await counters.totals(room_id)).views) for room_id in room_ids])
    except Exception:  # Redis away: the page shows "—" rather than a wrong total
        log.warning("room counters unreadable for an event's views", exc_info=True)
        return None
