"""The connection journal: what each room socket did — who (viewer key, user, device cookie),
from where (client address and its network), when it joined and left, how often it heartbeated,
when its video started playing, and the likes and flowers its caps granted — kept in the
database (`room_connections`) for the integrity rules; and the viewer figures the room counters
published (`room_figures`).

Never on a socket's path: a socket only changes its entry in memory; a background task writes
what changed, in one transaction, every FLUSH_S seconds, when a room's last socket leaves, and at
shutdown (`close`). A flush that fails is logged and its rows stay pending for the next one (up to
PENDING_MAX, beyond which the oldest closed entries are dropped, with a log line): the journal is
evidence for people, never part of a sale."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.realtime.models import IP_MAX, KEY_MAX, RoomConnection, RoomFigures

log = logging.getLogger(__name__)

FLUSH_S = 2.0  # how often what changed is written
LEAVE_GAP_S = 0.2  # a socket leaving wakes the writer, at most this often (a mass leave: few writes)
HEARTBEAT_WRITE_EVERY = 10  # an open connection's heartbeat count is written at the 1st, 11th, ...
CLOSE_WAIT_S = 10.0  # at shutdown, how long a write in progress may take before it is cancelled
PENDING_MAX = 100_000  # entries kept for a database that stays away; beyond, the oldest closed go
IPV4_PREFIX = 24  # a small network: one office, one village's line, one small hosting block
# IPv6: a /48 is what one site (a household line, an office, a server rack) is usually given; a
# /64 is a single LAN, and mobile carriers hand each phone its own /64, so one phone farm would
# spread over many /64s but not over many /48s.
IPV6_PREFIX = 48
FIGURES = ("unique_viewers", "views", "likes", "flowers", "unissued_connections")


def network_of(address: str) -> str:
    """The address's network as "a.b.c.0/24" or "2001:db8:1::/48"; "" for what is not an IP
    address (a test client's "testclient", a Unix socket)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@dataclass(eq=False)
class Connection:
    """One socket's journal entry, changed in memory by the socket, written by the journal."""

    journal: Journal
    session_id: int
    viewer: str | None
    user_id: int | None
    device: str | None
    ip: str
    ip_net: str
    joined_at: datetime = field(default_factory=utcnow)
    left_at: datetime | None = None
    heartbeats: int = 0
    last_heartbeat_at: datetime | None = None
    playing_at: datetime | None = None
    likes: int = 0
    flowers: int = 0
    row_id: int | None = None  # once written

    def heartbeat(self) -> None:
        """A "ping". Only the first, and every HEARTBEAT_WRITE_EVERY-th, makes the entry pending:
        what the rules need of an open connection is whether it ever heartbeated, and every
        socket pinging every 25 s would otherwise be a row update each; the close writes the rest."""
        self.heartbeats += 1
        self.last_heartbeat_at = utcnow()
        if self.heartbeats % HEARTBEAT_WRITE_EVERY == 1 or HEARTBEAT_WRITE_EVERY == 1:
            self.journal.touch(self)

    def playing(self) -> None:
        """The client's video started playing; only the first report counts."""
        if self.playing_at is None:
            self.playing_at = utcnow()
            self.journal.touch(self)

    def reacted(self, likes: int, flowers: int) -> None:
        self.likes += likes
        self.flowers += flowers
        self.journal.touch(self)

    def values(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "viewer": self.viewer,
            "user_id": self.user_id,
            "device": self.device,
            "ip": self.ip,
            "ip_net": self.ip_net,
            "joined_at": self.joined_at,
            "left_at": self.left_at,
            "heartbeats": self.heartbeats,
            "last_heartbeat_at": self.last_heartbeat_at,
            "playing_at": self.playing_at,
            "likes": self.likes,
            "flowers": self.flowers,
        }


class Journal:
    """Every room socket's entry in this process, and the writer that keeps them in the database."""

    def __init__(self, new_uow: Callable[[], UnitOfWork], flush_s: float = FLUSH_S) -> None:
        self.new_uow = new_uow
        self.flush_s = flush_s
        # Entries changed since their last write, oldest change first.
        self._pending: dict[Connection, None] = {}
        self._open: dict[Connection, None] = {}  # sockets open now
        # room -> the figures the counters published (peak viewers and the latest of the rest).
        self._figures: dict[int, dict[str, int]] = {}
        self._figures_pending: set[int] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.failures = 0  # flushes that failed (the next one retries)

    def open(
        self, session_id: int, viewer: str | None, session: Mapping[str, Any], ip: str, device_key: str
    ) -> Connection:
        """A socket was admitted to a room. `session` is the signed session cookie's content, of
        which `device_key` names the anonymous viewer id (session_cookie.SESSION_VIEWER)."""
        user = viewer[2:] if viewer is not None and viewer.startswith("u:") else None
        device = session.get(device_key)
        entry = Connection(
            journal=self,
            session_id=session_id,
            viewer=viewer[:KEY_MAX] if viewer is not None else None,
            user_id=int(user) if user is not None and user.isdigit() else None,
            device=str(device)[:KEY_MAX] if device else None,
            ip=ip[:IP_MAX],
            ip_net=network_of(ip),
        )
        self._open[entry] = None
        self.touch(entry)
        if not self._closed and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._flush_forever(), name="room-journal")
        return entry

    def close_entry(self, entry: Connection) -> None:
        """The socket closed."""
        self._open.pop(entry, None)
        if entry.left_at is None:
            entry.left_at = utcnow()
            self.touch(entry)
            self._wake.set()

    def touch(self, entry: Connection) -> None:
        self._pending[entry] = None

    def published(self, room_id: int, data: Mapping[str, Any]) -> None:
        """The room counters' totals as the hub sent them to the room (RoomTotals.as_data)."""
        seen = self._figures.setdefault(room_id, dict.fromkeys(("peak_viewers", *FIGURES), 0))
        changed = False
        for name, value in (("peak_viewers", data.get("viewers", 0)), *((n, data.get(n, 0)) for n in FIGURES)):
            if isinstance(value, int) and value > seen[name]:
                seen[name] = value
                changed = True
        if changed:
            self._figures_pending.add(room_id)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def _flush_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            if self._closed:
                return  # close() writes the rest
            await self.flush()
            await asyncio.sleep(LEAVE_GAP_S)

    async def flush(self) -> bool:
        """Write what changed; False when the write failed (it stays pending)."""
        async with self._lock:
            batch = list(self._pending)
            self._pending.clear()
            rooms = sorted(self._figures_pending)
            self._figures_pending.clear()
            if not batch and not rooms:
                return True
            snapshot = [(entry, entry.values()) for entry in batch]
            try:
                created = await self._write(snapshot, rooms)
            except BaseException as exc:  # cancelled too: nothing taken is lost
                self.failures += 1
                self._requeue(batch, rooms)
                if not isinstance(exc, Exception):
                    raise
                log.warning("room journal: %s entries not written yet (%r); retrying", len(batch), exc)
                return False
            for entry, row_id in created:
                entry.row_id = row_id
            return True

    async def _write(
        self, snapshot: list[tuple[Connection, dict[str, Any]]], rooms: list[int]
    ) -> list[tuple[Connection, int]]:
        fresh = [(entry, RoomConnection(**values)) for entry, values in snapshot if entry.row_id is None]
        known = [{"id": entry.row_id, **values} for entry, values in snapshot if entry.row_id is not None]
        async with self.new_uow() as uow:
            uow.session.add_all([row for _entry, row in fresh])
            await uow.session.flush()
            if known:
                await uow.session.execute(sa.update(RoomConnection), known)
            for room_id in rooms:
                await self._write_figures(uow, room_id, self._figures[room_id])
            created = [(entry, row.id) for entry, row in fresh]
        return created

    @staticmethod
    async def _write_figures(uow: UnitOfWork, room_id: int, seen: dict[str, int]) -> None:
        row = await uow.session.get(RoomFigures, room_id)
        if row is None:
            uow.session.add(RoomFigures(session_id=room_id, **seen))
            return
        for name, value in seen.items():  # several processes report: keep the highest of each
            setattr(row, name, max(getattr(row, name), value))
        row.updated_at = utcnow()

    def _requeue(self, batch: list[Connection], rooms: list[int]) -> None:
        again = dict.fromkeys(batch)
        again.update(self._pending)  # changed meanwhile: still pending, after the older ones
        self._pending = again
        self._figures_pending.update(rooms)
        if len(self._pending) > PENDING_MAX:
            closed = [entry for entry in self._pending if entry.left_at is not None]
            dropped = closed[: len(self._pending) - PENDING_MAX]
            for entry in dropped:
                del self._pending[entry]
            log.warning("room journal: %s closed connections dropped unwritten (the database is away)", len(dropped))

    async def close(self) -> None:
        """At shutdown: the sockets still open are closing with the process; write everything."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            # Never cancelled mid-write (a cancelled SQLite transaction may keep the write lock):
            # it stops at its next wake, after the write in progress, if any.
            done, _ = await asyncio.wait({self._task}, timeout=CLOSE_WAIT_S)
            if not done:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for entry in list(self._open):
            self.close_entry(entry)
        await self.flush()
