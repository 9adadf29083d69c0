"""Integrity rules on fake traffic, over the room sockets' journal (realtime.models.RoomConnection:
one row per connection, with its heartbeats, playback report and granted likes) and the viewer
figures the room counters published (realtime.models.RoomFigures).

A show's connections are those that joined before it ended. A connection still open in the
journal (no `left_at`: still watching, or its process died) is taken to have lasted until the end
of the show, or until now for a show not ended. Time windows are measured on the stored times, so
a show played in a few seconds is judged as fairly as one of hours: a connection that lasted less
than the heartbeat grace is judged on its playback report alone.

Each rule raises at most one alert per show (subject: the session); its evidence names the
figures and up to SAMPLE_MAX of the connections behind them, with their count."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.db.base import utcnow
from fieldcast.integrity.findings import Finding
from fieldcast.integrity.models import Severity, SubjectKind
from fieldcast.live.models import LiveSession
from fieldcast.realtime.models import RoomConnection, RoomFigures


class Thresholds(Protocol):
    """The fields of rules.Thresholds these rules read (rules.py registers them, so this module
    does not import it)."""

    @property
    def heartbeat_grace_s(self) -> float: ...
    @property
    def silent_share(self) -> float: ...
    @property
    def silent_min_connections(self) -> int: ...
    @property
    def burst_joins(self) -> int: ...
    @property
    def burst_window_s(self) -> float: ...
    @property
    def unsupported_share(self) -> float: ...
    @property
    def unsupported_min_viewers(self) -> int: ...
    @property
    def like_rate_per_s(self) -> float: ...
    @property
    def like_min_s(self) -> float: ...


SOCKETS_WITHOUT_PLAYBACK = "sockets_without_playback"
JOIN_BURST = "join_burst"
VIEWERS_UNSUPPORTED = "viewers_unsupported"
INHUMAN_LIKE_RATE = "inhuman_like_rate"

SAMPLE_MAX = 20  # connections (or bursts) listed in an alert's evidence; the counts are complete
BURST_KEYS = ("ip", "ip_net", "device")


async def _connections(s: AsyncSession, live: LiveSession) -> list[RoomConnection]:
    query = sa.select(RoomConnection).where(RoomConnection.session_id == live.id)
    if live.ended_at is not None:
        query = query.where(RoomConnection.joined_at <= live.ended_at)
    return list((await s.scalars(query.order_by(RoomConnection.joined_at, RoomConnection.id))).all())


def _until(c: RoomConnection, live: LiveSession, now: datetime) -> datetime:
    """When the connection ended, as far as the journal knows."""
    end = c.left_at or live.ended_at or now
    return max(end, c.joined_at)


def _seconds(c: RoomConnection, live: LiveSession, now: datetime) -> float:
    return (_until(c, live, now) - c.joined_at).total_seconds()


def _row(c: RoomConnection, live: LiveSession, now: datetime) -> dict[str, Any]:
    return {
        "connection_id": c.id,
        "ip": c.ip,
        "device": c.device,
        "user_id": c.user_id,
        "joined_at": c.joined_at.isoformat(),
        "left_at": c.left_at.isoformat() if c.left_at else None,
        "connected_s": round(_seconds(c, live, now), 1),
        "heartbeats": c.heartbeats,
        "playing": c.playing_at is not None,
        "likes": c.likes,
    }


def _found(rule: str, severity: Severity, live: LiveSession, evidence: dict[str, Any]) -> list[Finding]:
    return [Finding(rule, severity, SubjectKind.SESSION, live.id, evidence)]


def _supported(c: RoomConnection) -> bool:
    """A connection someone was watching through: it heartbeated or its video played."""
    return c.heartbeats > 0 or c.playing_at is not None


async def sockets_without_playback(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """Connections that never reported playback, or that lived past `heartbeat_grace_s` without a
    single heartbeat (a browser pings every 25 s), above `silent_share` of the show's connections,
    once it has `silent_min_connections`."""
    rows = await _connections(s, live)
    if len(rows) < t.silent_min_connections:
        return []
    now = utcnow()
    no_playback = [c for c in rows if c.playing_at is None]
    no_heartbeat = [c for c in rows if c.heartbeats == 0 and _seconds(c, live, now) >= t.heartbeat_grace_s]
    suspect = {c.id: c for c in [*no_playback, *no_heartbeat]}
    share = len(suspect) / len(rows)
    if share <= t.silent_share:
        return []
    listed = sorted(suspect.values(), key=lambda c: (c.joined_at, c.id))
    evidence = {
        "connections": len(rows),
        "suspect_connections": len(suspect),
        "no_playback": len(no_playback),
        "no_heartbeat": len(no_heartbeat),
        "share": round(share, 4),
        "threshold": t.silent_share,
        "heartbeat_grace_s": t.heartbeat_grace_s,
        "sample": [_row(c, live, now) for c in listed[:SAMPLE_MAX]],
    }
    return _found(SOCKETS_WITHOUT_PLAYBACK, Severity.MEDIUM, live, evidence)


def _densest(times: list[datetime], window_s: float) -> tuple[int, datetime, datetime]:
    """The most joins within `window_s` seconds of one another: (count, first, last)."""
    best = (0, times[0], times[0])
    start = 0
    for end, at in enumerate(times):
        while (at - times[start]).total_seconds() > window_s:
            start += 1
        if end - start + 1 > best[0]:
            best = (end - start + 1, times[start], at)
    return best


async def join_burst(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """At least `burst_joins` connections joining within `burst_window_s` seconds from one client
    address, one network (/24, or /48 for IPv6) or one device cookie."""
    rows = await _connections(s, live)
    by_key: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for c in rows:
        for kind in BURST_KEYS:
            value = getattr(c, kind)
            if value:
                by_key[(kind, value)].append(c.joined_at)
    bursts: list[dict[str, Any]] = []
    for (kind, value), times in by_key.items():
        if len(times) < t.burst_joins:
            continue
        count, first, last = _densest(sorted(times), t.burst_window_s)
        if count >= t.burst_joins:
            bursts.append(
                {
                    "key": kind,
                    "value": value,
                    "joins": count,
                    "window_s": t.burst_window_s,
                    "first_at": first.isoformat(),
                    "last_at": last.isoformat(),
                    "all_joins": len(times),
                }
            )
    if not bursts:
        return []
    bursts.sort(key=lambda b: (-b["joins"], BURST_KEYS.index(b["key"]), b["value"]))
    evidence = {
        "threshold_joins": t.burst_joins,
        "window_s": t.burst_window_s,
        "connections": len(rows),
        "burst_count": len(bursts),
        "bursts": bursts[:SAMPLE_MAX],
    }
    return _found(JOIN_BURST, Severity.HIGH, live, evidence)


def _peak_concurrent(rows: list[RoomConnection], live: LiveSession, now: datetime) -> int:
    edges = sorted([(c.joined_at, 1) for c in rows] + [(_until(c, live, now), -1) for c in rows])
    peak = current = 0
    for _at, step in edges:  # at the same instant a leave (-1) sorts before a join
        current += step
        peak = max(peak, current)
    return peak


async def viewers_unsupported(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """The viewer figures the room published (peak concurrent viewers, unique viewers) exceed what
    the journal supports — connections of issued viewers that heartbeated or played — by more
    than `unsupported_share` of the figure, once the figure reaches `unsupported_min_viewers`."""
    figures = await s.get(RoomFigures, live.id)
    if figures is None:
        return []
    now = utcnow()
    rows = await _connections(s, live)
    people = [c for c in rows if c.viewer is not None]
    supported = [c for c in people if _supported(c)]
    supported_peak = _peak_concurrent(supported, live, now)
    supported_unique = len({c.viewer for c in supported})
    judged = []
    for name, published, backed in (
        ("peak_viewers", figures.peak_viewers, supported_peak),
        ("unique_viewers", figures.unique_viewers, supported_unique),
    ):
        if published < t.unsupported_min_viewers:
            continue
        unsupported = (published - backed) / published
        if unsupported > t.unsupported_share:
            judged.append(
                {
                    "figure": name,
                    "published": published,
                    "supported": backed,
                    "unsupported_share": round(unsupported, 4),
                }
            )
    if not judged:
        return []
    unsupported_rows = [c for c in people if not _supported(c)]
    evidence = {
        "figures": judged,
        "published": {
            "peak_viewers": figures.peak_viewers,
            "unique_viewers": figures.unique_viewers,
            "views": figures.views,
        },
        "journal": {
            "connections": len(rows),
            "viewer_connections": len(people),
            "supported_connections": len(supported),
            "supported_peak_concurrent": supported_peak,
            "supported_unique_viewers": supported_unique,
        },
        "threshold": t.unsupported_share,
        "unsupported_sample": [_row(c, live, now) for c in unsupported_rows[:SAMPLE_MAX]],
    }
    return _found(VIEWERS_UNSUPPORTED, Severity.HIGH, live, evidence)


async def inhuman_like_rate(s: AsyncSession, live: LiveSession, t: Thresholds) -> list[Finding]:
    """Connections that sent likes faster than `like_rate_per_s` on average over all their
    connected time, among those connected at least `like_min_s` (a short burst of taps is human)."""
    now = utcnow()
    rows = await _connections(s, live)
    fast = []
    for c in rows:
        seconds = _seconds(c, live, now)
        if c.likes and seconds >= t.like_min_s and c.likes / seconds > t.like_rate_per_s:
            fast.append((c.likes / seconds, c))
    if not fast:
        return []
    fast.sort(key=lambda pair: (-pair[0], pair[1].id))
    evidence = {
        "threshold_per_s": t.like_rate_per_s,
        "min_connected_s": t.like_min_s,
        "connections": len(rows),
        "fast_connections": len(fast),
        "likes_from_fast": sum(c.likes for _rate, c in fast),
        "sample": [{**_row(c, live, now), "likes_per_s": round(rate, 2)} for rate, c in fast[:SAMPLE_MAX]],
    }
    return _found(INHUMAN_LIKE_RATE, Severity.MEDIUM, live, evidence)


TRAFFIC_RULES = (sockets_without_playback, join_burst, viewers_unsupported, inhuman_like_rate)
