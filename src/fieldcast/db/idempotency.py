"""Idempotency keys, stored in the same transaction as the write they guard (Stripe's model).

A key is recorded with the response its request produced, by the commit that made the change:
either both are durable or neither is. So a retry after any failure — a crash between the commit
and the response included — finds the first response and never writes twice, and a request that
died before its commit left nothing behind and can be retried at once. Two requests with one key
at the same time both run, but only one can commit (the key is unique): the other is rolled back
and answers the winner's response. Old keys are removed by a periodic task (purge)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from fieldcast.db.base import Base, IdType, utcnow

KEEP_FOR = timedelta(hours=24)


class IdempotentRequest(Base):
    __tablename__ = "idempotent_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # SHA-256 of caller, method, path and key: a key is the caller's own, per endpoint.
    scope_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # SHA-256 of query and body: a key reused for a different request is refused.
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int] = mapped_column()
    content_type: Mapped[str] = mapped_column(sa.String(100), default="")
    body: Mapped[bytes] = mapped_column(sa.LargeBinary, default=b"")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


async def find(session: AsyncSession, scope_hash: str) -> IdempotentRequest | None:
    """The recorded outcome of a key (of any age: see is_current)."""
    return await session.scalar(sa.select(IdempotentRequest).where(IdempotentRequest.scope_hash == scope_hash))


def is_current(stored: IdempotentRequest) -> bool:
    """Whether a recorded key still counts; an older one is forgotten (and replaced)."""
    return stored.created_at >= utcnow() - KEEP_FOR


def record(
    session: AsyncSession, scope_hash: str, request_hash: str, status_code: int, content_type: str, body: bytes
) -> None:
    """Add the key and its response to the request's own transaction (flushed at its commit)."""
    session.add(
        IdempotentRequest(
            scope_hash=scope_hash,
            request_hash=request_hash,
            status_code=status_code,
            content_type=content_type[:100],
            body=body,
        )
    )


async def purge(session: AsyncSession, older_than: timedelta = KEEP_FOR) -> int:
    """Delete keys older than `older_than` (a periodic task; returns how many)."""
    result = await session.execute(
        sa.delete(IdempotentRequest).where(IdempotentRequest.created_at < utcnow() - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)
