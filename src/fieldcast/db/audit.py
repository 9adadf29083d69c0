"""The append-only audit log: who did what, to what, when and why.

Every capability's actions write it inside their own transaction, so it sits with the unit of work
below them; integrity (rules, alerts, the public ledger) reads it from above."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, utcnow
from fieldcast.db.uow import UnitOfWork


class AuditEntry(Base):
    __tablename__ = "audit_log"

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
