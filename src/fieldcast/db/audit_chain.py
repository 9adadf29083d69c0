"""The audit log's hash chain: each entry carries the hash of the one before it.

Entries form one chain in the order their transactions commit. Each belongs to the Beijing day
(Asia/Shanghai, UTC+8, no daylight saving) on which its transaction committed; within a day `seq`
counts from 1. An entry's hash is SHA-256 over the sorted-key JSON of its own content (time, actor,
action, subject, organisation, reason, details, day, seq) and the previous entry's hash; the first
entry of a day chains from the head of the latest earlier day, and the very first entry from
GENESIS. `audit_heads` keeps each day's head hash and entry count, which are published
(`GET /api/v1/audit/heads`, `/audit`).

Sealing happens just after the commit, not inside the action's transaction: an action inserts its
entries like any row (no lock); once its transaction has committed, the unit of work hands them to
this process's sealer (`seal_committed`) and waits for it. The sealer runs one short transaction
at a time that takes the chain's one lock (PostgreSQL: a transaction advisory lock; SQLite:
writers are serialised already), reads the head, hashes each committed transaction's entries in
id order, one transaction after another, and moves the head; commits that arrive while a round
runs are sealed together in the next. So no action holds the chain's lock, nor any of its own row
locks while the chain is extended: a platform-wide lock taken inside every write's transaction
capped all writes at one per few round trips (a flash sale's checkouts most visibly), and it can
neither deadlock with the row locks of actions nor fork the chain.

An entry is in the chain within moments of its commit. A process killed between the two leaves
its entries outside the chain: `verify_chain` (`fieldcast audit verify`) walks the chain back and
names such an entry once it is older than SEAL_GRACE (younger ones are counted as pending), as it
names one written into the table around the application."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import set_committed_value

log = logging.getLogger(__name__)

CHAIN_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
GENESIS = hashlib.sha256(b"fieldcast audit log genesis").hexdigest()
# Any constant: the one PostgreSQL advisory lock the chain's appends take.
CHAIN_LOCK_KEY = 0x46435F4155444954  # "FC_AUDIT"
PENDING = "fc_audit_pending"
SEALING = "fc_audit_sealing"
# A committed entry still outside the chain after this long was not left there by a round in flight.
SEAL_GRACE = timedelta(minutes=2)

log_table = sa.table(
    "audit_log",
    sa.column("id"),
    sa.column("created_at"),
    sa.column("actor_id"),
    sa.column("action"),
    sa.column("target_type"),
    sa.column("target_id"),
    sa.column("organisation_id"),
    sa.column("reason"),
    sa.column("details"),
    sa.column("day"),
    sa.column("seq"),
    sa.column("prev_hash"),
    sa.column("hash"),
)
heads_table = sa.table("audit_heads", sa.column("day"), sa.column("head_hash"), sa.column("entries"))


def chain_day(moment: datetime) -> date:
    """The Beijing calendar day of an aware moment."""
    return moment.astimezone(CHAIN_TZ).date()


def as_utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite through Core without the column's type
        value = datetime.fromisoformat(value)
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _as_details(value: Any) -> Any:
    """Details as the database gives them back: JSON text parsed, or a value put through JSON
    (tuples become lists, keys strings), so the hash taken at commit is the one verify recomputes."""
    if isinstance(value, str):
        return json.loads(value)
    return json.loads(json.dumps(value)) if value is not None else {}


def canonical(entry: Mapping[Any, Any], prev_hash: str) -> bytes:
    """The bytes an entry's hash is taken over: its id-independent content and the previous hash."""
    content = {
        "time": as_utc(entry["created_at"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": entry["actor_id"],
        "action": entry["action"],
        "subject": [entry["target_type"], entry["target_id"]],
        "organisation": entry["organisation_id"],
        "reason": entry["reason"],
        "details": _as_details(entry["details"]),
        "day": _as_date(entry["day"]).isoformat(),
        "seq": entry["seq"],
        "prev": prev_hash,
    }
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(entry: Mapping[Any, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(entry, prev_hash)).hexdigest()


CONTENT_COLUMNS = (
    "id",
    "created_at",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "organisation_id",
    "reason",
    "details",
)
_CONTENT = [
    log_table.c.id,
    log_table.c.created_at,
    log_table.c.actor_id,
    log_table.c.action,
    log_table.c.target_type,
    log_table.c.target_id,
    log_table.c.organisation_id,
    log_table.c.reason,
    log_table.c.details,
]


def _latest_head(conn: Connection) -> tuple[date | None, str, int]:
    row = conn.execute(
        sa.select(heads_table.c.day, heads_table.c.head_hash, heads_table.c.entries)
        .order_by(heads_table.c.day.desc())
        .limit(1)
    ).first()
    if row is None:
        return None, GENESIS, 0
    return _as_date(row.day), row.head_hash, row.entries


def append(
    conn: Connection, entries: Sequence[Mapping[str, Any]], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Chain these entries (committed or in this transaction, not yet chained: their id and
    content), in id order, onto the head, under the chain lock (taken here on PostgreSQL; held to
    COMMIT). Returns what each got: b_id (its id), day, seq, prev_hash and hash."""
    return append_groups(conn, [entries], now=now)


def append_groups(
    conn: Connection, groups: Sequence[Sequence[Mapping[str, Any]]], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Chain groups of entries (one group per committed transaction) one after another, each in
    id order, skipping any entry that is chained already (a round retried after a commit whose
    outcome was lost). Same lock and result as `append`."""
    if not any(groups):
        return []
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))
    wanted = [int(e["id"]) for group in groups for e in group]
    open_ids = {
        int(i)
        for i in conn.execute(
            sa.select(log_table.c.id).where(log_table.c.id.in_(wanted), log_table.c.hash.is_(None))
        ).scalars()
    }
    if not open_ids:
        return []
    head_day, head_hash, head_count = _latest_head(conn)
    day = chain_day(now or datetime.now(UTC))
    if head_day is not None and head_day > day:  # a process whose clock lags: never go back a day
        day = head_day
    seq = head_count if head_day == day else 0
    updates = []
    prev = head_hash
    for group in groups:
        for entry in sorted(group, key=lambda e: int(e["id"])):
            if int(entry["id"]) not in open_ids:
                continue
            open_ids.discard(int(entry["id"]))  # an entry handed over twice is chained once
            seq += 1
            digest = entry_hash({**entry, "day": day, "seq": seq}, prev)
            updates.append({"b_id": entry["id"], "day": day, "seq": seq, "prev_hash": prev, "hash": digest})
            prev = digest
    if not updates:
        return []
    conn.execute(
        log_table.update()
        .where(log_table.c.id == sa.bindparam("b_id"))
        .values(
            day=sa.bindparam("day"),
            seq=sa.bindparam("seq"),
            prev_hash=sa.bindparam("prev_hash"),
            hash=sa.bindparam("hash"),
        ),
        updates,
    )
    if head_day == day:
        conn.execute(heads_table.update().where(heads_table.c.day == day).values(head_hash=prev, entries=seq))
    else:
        conn.execute(heads_table.insert().values(day=day, head_hash=prev, entries=seq))
    return updates


# --- sealing every session's audit entries at commit -------------------------------------------------


@event.listens_for(Session, "after_flush")
def _note_new_entries(session: Session, _flush: UOWTransaction) -> None:
    for obj in session.new:
        if getattr(type(obj), "__tablename__", None) == "audit_log":
            session.info.setdefault(PENDING, []).append(obj)


@event.listens_for(Session, "before_commit")
def _take_content(session: Session) -> None:
    """What will be sealed once this commits: the entries still in the database (not the ones a
    rolled-back savepoint took away or the transaction deleted again), with their content as
    committed (hashed from memory: nothing is read back)."""
    if session.in_nested_transaction():
        return
    session.flush()  # entries still pending reach the database (and PENDING) first
    pending = session.info.pop(PENDING, None)
    if pending:
        alive = [obj for obj in pending if sa.inspect(obj).persistent]
        if alive:
            session.info[SEALING] = [(obj, {c: getattr(obj, c) for c in CONTENT_COLUMNS}) for obj in alive]


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous: Any) -> None:
    if previous.parent is None:  # the whole transaction (a savepoint's entries are skipped at commit)
        session.info.pop(PENDING, None)
        session.info.pop(SEALING, None)


Sealing = list[tuple[Any, dict[str, Any]]]


def take_sealing(session: Session) -> Sealing:
    """The entries a transaction that just committed left to seal (forgotten here)."""
    taken: Sealing = session.info.pop(SEALING, None) or []
    return taken


def _append_in(session: Session, groups: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    return append_groups(session.connection(), groups)


class _Sealer:
    """One process's sealing rounds for one database: one round at a time; everything handed over
    while a round runs is sealed in the next one, each transaction's entries together."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self.loop = asyncio.get_running_loop()
        self.queued: list[list[dict[str, Any]]] = []
        self.next_round: asyncio.Future[dict[int, dict[str, Any]]] | None = None
        self.running = False
        self.task: asyncio.Task[None] | None = None  # held: the loop keeps only a weak reference

    async def seal(self, group: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        self.queued.append(group)
        if self.next_round is None:
            self.next_round = self.loop.create_future()
        round_done = self.next_round
        if not self.running:
            self.running = True
            self.task = self.loop.create_task(self._rounds())
        return await asyncio.shield(round_done)

    async def _rounds(self) -> None:
        try:
            while self.next_round is not None:
                done, self.next_round = self.next_round, None
                groups, self.queued = self.queued, []
                sealed: dict[int, dict[str, Any]] = {}
                try:
                    async with self.sessionmaker() as session:
                        updates = await session.run_sync(_append_in, groups)
                        await session.commit()
                    sealed = {int(u["b_id"]): u for u in updates}
                except Exception:  # committed already: never fail the action; verify names what stays out
                    log.exception("sealing %d audit entries failed", sum(len(g) for g in groups))
                done.set_result(sealed)
        finally:
            self.running = False


_sealers: weakref.WeakKeyDictionary[Engine, _Sealer] = weakref.WeakKeyDictionary()


async def seal_committed(sessionmaker: async_sessionmaker[AsyncSession], sealing: Sealing) -> None:
    """Chain what a transaction committed (`take_sealing`), in this process's next sealing round,
    and say in the objects in memory where each entry went. Never raises."""
    if not sealing:
        return
    try:
        bind = sessionmaker.kw["bind"].sync_engine
        sealer = _sealers.get(bind)
        if sealer is None or sealer.loop is not asyncio.get_running_loop():
            sealer = _sealers[bind] = _Sealer(sessionmaker)
        sealed = await sealer.seal([content for _, content in sealing])
    except Exception:
        log.exception("sealing audit entries failed")
        return
    for obj, content in sealing:  # the objects in memory say what the rows now hold
        update = sealed.get(int(content["id"]))
        if update is not None:
            for column in ("day", "seq", "prev_hash", "hash"):
                set_committed_value(obj, column, update[column])


# --- verification -----------------------------------------------------------------------------------


@dataclass
class Problem:
    entry_id: int | None
    day: date | None
    message: str

    def __str__(self) -> str:
        day = self.day.isoformat() if self.day else "?"
        if self.entry_id is None:
            return f"head of day {day}: {self.message}"
        return f"id {self.entry_id} of day {day}: {self.message}"


@dataclass
class Report:
    days: int = 0
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    pending: int = 0  # committed in the last SEAL_GRACE and not chained yet (a round in flight)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    conn: Connection,
    *,
    day: date | None = None,
    published: Mapping[date, tuple[str, int]] | None = None,
    now: datetime | None = None,
) -> Report:
    """Walk the chain (one day, or all) and report every break, the first one first.

    Each entry's hash must be recomputable from its content and the previous entry's hash; each
    entry must name its predecessor's hash, and seq must count 1, 2, 3… within the day; a day's
    last entry and count must match `audit_heads`, and the heads published earlier (`published`:
    a kept copy of GET /api/v1/audit/heads) when given; and no entry older than SEAL_GRACE may be
    outside the chain (younger ones are counted in `pending`). Only a kept copy catches a log
    rewritten whole, hashes and heads recomputed."""
    settled = (now or datetime.now(UTC)) - SEAL_GRACE
    report = Report()
    heads = {
        _as_date(r.day): (r.head_hash, r.entries)
        for r in conn.execute(sa.select(heads_table.c.day, heads_table.c.head_hash, heads_table.c.entries))
    }
    cols = [*_CONTENT, log_table.c.day, log_table.c.seq, log_table.c.prev_hash, log_table.c.hash]
    stmt = sa.select(*cols).where(log_table.c.hash.is_not(None)).order_by(log_table.c.day, log_table.c.seq)
    prev = GENESIS
    if day is not None:
        stmt = stmt.where(log_table.c.day == day)
        earlier = [d for d in heads if d < day]
        prev = heads[max(earlier)][0] if earlier else GENESIS
    current: date | None = None
    seq = 0
    seen_days: set[date] = set()

    def close_day(d: date, last_hash: str, count: int) -> None:
        kept = (published or {}).get(d)
        if kept is not None and kept != (last_hash, count):
            report.problems.append(
                Problem(
                    None,
                    d,
                    f"the chain ends at entry {count} with hash {last_hash[:12]}…, but the head published "
                    f"earlier says {kept[1]} entries ending {kept[0][:12]}… (the day was rewritten)",
                )
            )
        head = heads.get(d)
        if head is None:
            report.problems.append(Problem(None, d, "the day has entries but no published head"))
        elif head != (last_hash, count):
            report.problems.append(
                Problem(
                    None,
                    d,
                    f"the chain ends at entry {count} with hash {last_hash[:12]}…, but the day's head "
                    f"says {head[1]} entries ending {head[0][:12]}… (entries deleted or added at the end)",
                )
            )

    for row in conn.execute(stmt).mappings():
        row_day = _as_date(row["day"])
        if row_day != current:
            if current is not None:
                close_day(current, prev, seq)
            current, seq = row_day, 0
            seen_days.add(row_day)
            report.days += 1
        seq += 1
        report.entries += 1
        if row["seq"] != seq:
            report.problems.append(
                Problem(
                    row["id"],
                    row_day,
                    f"seq {row['seq']} where {seq} was expected (an entry deleted or inserted before it)",
                )
            )
            seq = row["seq"]
        if row["prev_hash"] != prev:
            report.problems.append(
                Problem(
                    row["id"], row_day, "it does not chain from the entry before it (one deleted or inserted before it)"
                )
            )
        if entry_hash(row, row["prev_hash"]) != row["hash"]:
            report.problems.append(Problem(row["id"], row_day, "its content does not match its hash (changed)"))
        prev = row["hash"]
    if current is not None:
        close_day(current, prev, seq)
    for d, (_, count) in {**heads, **(published or {})}.items():
        if d not in seen_days and (day is None or d == day):
            report.problems.append(Problem(None, d, f"the day's head says {count} entries, but none are left"))
    unchained = (
        sa.select(log_table.c.id, log_table.c.created_at).where(log_table.c.hash.is_(None)).order_by(log_table.c.id)
    )
    for loose in conn.execute(unchained):
        written = as_utc(loose.created_at)
        row_day = chain_day(written)
        if day is not None and row_day != day:
            continue
        if written > settled:
            report.pending += 1
            continue
        report.problems.append(
            Problem(loose.id, row_day, "it is not in the chain (inserted directly, or never sealed after its commit)")
        )
    return report


def read_published(text: str) -> dict[date, tuple[str, int]]:
    """The heads in a kept copy of GET /api/v1/audit/heads (ValueError when it is not one)."""
    try:
        items = json.loads(text)["items"]
        return {date.fromisoformat(i["day"]): (str(i["head_hash"]), int(i["entries"])) for i in items}
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a copy of /api/v1/audit/heads ({exc})") from None
