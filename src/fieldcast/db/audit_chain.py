"""The audit log's hash chain: each entry carries the hash of the one before it.

Entries form one chain in the order their transactions commit. Each belongs to the Beijing day
(Asia/Shanghai, UTC+8, no daylight saving) on which its transaction committed; within a day `seq`
counts from 1. An entry's hash is SHA-256 over the sorted-key JSON of its own content (time, actor,
action, subject, organisation, reason, details, day, seq) and the previous entry's hash; the first
entry of a day chains from the head of the latest earlier day, and the very first entry from
GENESIS. `audit_heads` keeps each day's head hash and entry count, which are published
(`GET /api/v1/audit/heads`, `/audit`).

Sealing happens at commit, not when an entry is added: an action inserts its entries like any row
(no lock), and just before COMMIT the session takes the chain's one lock (PostgreSQL: a
transaction advisory lock; SQLite: writers are serialised already), reads the head, hashes the
transaction's entries in id order and moves the head. The lock is the last one a transaction
takes and is held only for those few statements, so it can neither deadlock with the row locks of
actions nor fork the chain. `verify_chain` walks it back (`fieldcast audit verify`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import set_committed_value

CHAIN_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
GENESIS = hashlib.sha256(b"fieldcast audit log genesis").hexdigest()
# Any constant: the one PostgreSQL advisory lock the chain's appends take.
CHAIN_LOCK_KEY = 0x46435F4155444954  # "FC_AUDIT"
PENDING = "fc_audit_pending"

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
    """Chain these entries (inserted in this transaction, not yet chained: their id and content),
    in id order, onto the head, under the chain lock (taken here on PostgreSQL; held to COMMIT).
    Returns what each got: b_id (its id), day, seq, prev_hash and hash."""
    if not entries:
        return []
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))
    head_day, head_hash, head_count = _latest_head(conn)
    day = chain_day(now or datetime.now(UTC))
    if head_day is not None and head_day > day:  # a process whose clock lags: never go back a day
        day = head_day
    seq = head_count if head_day == day else 0
    updates = []
    prev = head_hash
    for entry in sorted(entries, key=lambda e: int(e["id"])):
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
def _seal(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.flush()  # entries still pending reach the database (and PENDING) first
    pending = session.info.pop(PENDING, None)
    if pending:
        # Hashed from the entries in memory (no read back): those still in the database, not the
        # ones a rolled-back savepoint took away or the transaction deleted again.
        alive = [obj for obj in pending if sa.inspect(obj).persistent]
        sealed = append(session.connection(), [{c: getattr(obj, c) for c in CONTENT_COLUMNS} for obj in alive])
        by_id = {obj.id: obj for obj in alive}
        for update in sealed:  # the objects in memory say what the rows now hold
            for column in ("day", "seq", "prev_hash", "hash"):
                set_committed_value(by_id[update["b_id"]], column, update[column])


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous: Any) -> None:
    if previous.parent is None:  # the whole transaction (a savepoint's entries are skipped at commit)
        session.info.pop(PENDING, None)


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

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    conn: Connection, *, day: date | None = None, published: Mapping[date, tuple[str, int]] | None = None
) -> Report:
    """Walk the chain (one day, or all) and report every break, the first one first.

    Each entry's hash must be recomputable from its content and the previous entry's hash; each
    entry must name its predecessor's hash, and seq must count 1, 2, 3… within the day; a day's
    last entry and count must match `audit_heads`, and the heads published earlier (`published`:
    a kept copy of GET /api/v1/audit/heads) when given; and no entry may be outside the chain.
    Only a kept copy catches a log rewritten whole, hashes and heads recomputed."""
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
        row_day = chain_day(as_utc(loose.created_at))
        if day is None or row_day == day:
            report.problems.append(Problem(loose.id, row_day, "it is not in the chain (inserted directly)"))
    return report


def read_published(text: str) -> dict[date, tuple[str, int]]:
    """The heads in a kept copy of GET /api/v1/audit/heads (ValueError when it is not one)."""
    try:
        items = json.loads(text)["items"]
        return {date.fromisoformat(i["day"]): (str(i["head_hash"]), int(i["entries"])) for i in items}
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a copy of /api/v1/audit/heads ({exc})") from None
