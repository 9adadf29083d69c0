"""Reads of the audit log."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.integrity.models import AuditEntry


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
