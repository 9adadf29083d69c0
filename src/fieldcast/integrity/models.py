"""The append-only audit log: who did what, to what, when and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, utcnow


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
