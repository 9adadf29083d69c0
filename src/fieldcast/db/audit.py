"""The append-only audit log: who did what, to what, when and why.

Every capability's actions write it inside their own transaction, so it sits with the unit of work
below them; integrity (rules, alerts, the public ledger) reads it from above. Entries are chained
by hash as their transactions commit (db/audit_chain.py), and each day's head is published."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db import audit_chain as _chain  # noqa: F401 - seals entries at commit
from fieldcast.db.base import Base, IdType, utcnow
from fieldcast.db.uow import UnitOfWork


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (sa.UniqueConstraint("day", "seq", name="uq_audit_log_day_seq"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str] = mapped_column(sa.String(64))
    organisation_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(sa.String(1000), default="")
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # Set when the transaction commits (db/audit_chain.py): the Beijing day, the place in it, and
    # the hashes that chain it to the entry before.
    day: Mapped[date | None] = mapped_column(sa.Date, index=True)
    seq: Mapped[int | None] = mapped_column(sa.Integer)
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    hash: Mapped[str | None] = mapped_column(sa.String(64))


class AuditHead(Base):
    """A day's head: the hash of its last entry and how many it has (published)."""

    __tablename__ = "audit_heads"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    head_hash: Mapped[str] = mapped_column(sa.String(64))
    entries: Mapped[int] = mapped_column(sa.Integer)


def record_audit(
    uow: UnitOfWork,
    *,
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: int | str,
    reason: str = "",
    organisation_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction: it commits (or not) with the change."""
    entry = AuditEntry(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        reason=reason,
        organisation_id=organisation_id,
        details=details or {},
    )
    uow.session.add(entry)
    return entry


async def list_audit(
    session: AsyncSession,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    action: str | None = None,
    organisation_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[AuditEntry]:
    stmt = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if organisation_id is not None:
        stmt = stmt.where(AuditEntry.organisation_id == organisation_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return (await session.scalars(stmt)).all()


async def list_heads(session: AsyncSession, *, first: date, last: date) -> Sequence[AuditHead]:
    """The published heads of the days from `first` to `last` (both included), oldest first."""
    stmt = sa.select(AuditHead).where(AuditHead.day >= first, AuditHead.day <= last).order_by(AuditHead.day)
    return (await session.scalars(stmt)).all()
