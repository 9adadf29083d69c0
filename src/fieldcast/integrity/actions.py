"""Writes to the audit log. Called by other capabilities' actions inside their transaction."""

from __future__ import annotations

from typing import Any

from fieldcast.db.uow import UnitOfWork
from fieldcast.integrity.models import AuditEntry


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
