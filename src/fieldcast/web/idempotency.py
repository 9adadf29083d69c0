"""Idempotency-Key for API writes: a retried request gets the first response, never a second effect.

Keys are scoped to the caller (session user or bearer token), method and path; reusing a key with
a different body is refused. Responses below 500 are kept for 24 hours."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcast.db.base import Base, IdType, utcnow
from fieldcast.i18n import N_, gettext
from fieldcast.web.problems import problem_response

HEADER = b"idempotency-key"
KEY_MAX = 255
KEEP_FOR = timedelta(hours=24)
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class IdempotentRequest(Base):
    __tablename__ = "idempotent_requests"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    scope_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16), default="in_progress")
    status_code: Mapped[int | None] = mapped_column(default=None)
    content_type: Mapped[str] = mapped_column(sa.String(100), default="")
    body: Mapped[bytes] = mapped_column(sa.LargeBinary, default=b"")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def _principal(scope: Scope, headers: dict[bytes, bytes]) -> str:
    auth = headers.get(b"authorization", b"")
    if auth.lower().startswith(b"bearer "):
        return "token:" + hashlib.sha256(auth[7:].strip()).hexdigest()
    session = scope.get("session") or {}
    uid = session.get("uid")
    return f"user:{uid}" if uid is not None else "anonymous"


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > KEY_MAX:
            response = problem_response(
                422,
                "invalid_idempotency_key",
                gettext(N_("Idempotency-Key must be 1 to %(max)s characters."), max=KEY_MAX),
            )
            await response(scope, receive, send)
            return

        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)

        scope_hash = hashlib.sha256(
            "\n".join([_principal(scope, headers), scope["method"], scope["path"], key.decode("latin-1")]).encode()
        ).hexdigest()
        request_hash = hashlib.sha256(scope.get("query_string", b"") + b"\n" + body).hexdigest()
        sessionmaker = scope["app"].state.ctx.sessionmaker

        async with sessionmaker() as session:
            await session.execute(
                sa.delete(IdempotentRequest).where(IdempotentRequest.created_at < utcnow() - KEEP_FOR)
            )
            try:
                session.add(IdempotentRequest(scope_hash=scope_hash, request_hash=request_hash))
                await session.commit()
            except IntegrityError:
                await session.rollback()
                stored = await session.scalar(
                    sa.select(IdempotentRequest).where(IdempotentRequest.scope_hash == scope_hash)
                )
                await self._answer_repeat(stored, request_hash, scope, receive, send)
                return

        replayed_body = False

        async def replay_receive() -> Message:
            nonlocal replayed_body
            if not replayed_body:
                replayed_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        finally:
            await self._store(sessionmaker, scope_hash, captured)

    async def _store(self, sessionmaker: Any, scope_hash: str, captured: dict[str, Any]) -> None:
        async with sessionmaker() as session:
            if captured["status"] >= 500:  # a failure may be retried with the same key
                await session.execute(sa.delete(IdempotentRequest).where(IdempotentRequest.scope_hash == scope_hash))
            else:
                content_type = next(
                    (v.decode("latin-1") for k, v in captured["headers"] if k.lower() == b"content-type"), ""
                )
                await session.execute(
                    sa.update(IdempotentRequest)
                    .where(IdempotentRequest.scope_hash == scope_hash)
                    .values(
                        state="done",
                        status_code=captured["status"],
                        content_type=content_type[:100],
                        body=captured["body"],
                    )
                )
            await session.commit()

    async def _answer_repeat(
        self, stored: IdempotentRequest | None, request_hash: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if stored is None or stored.state != "done":
            response: Response = problem_response(
                409,
                "idempotency_in_progress",
                gettext(N_("A request with this Idempotency-Key is still being processed.")),
            )
        elif stored.request_hash != request_hash:
            response = problem_response(
                422,
                "idempotency_key_reused",
                gettext(N_("This Idempotency-Key was already used for a different request.")),
            )
        else:
            response = Response(
                stored.body,
                status_code=stored.status_code or 200,
                headers={"content-type": stored.content_type, "idempotent-replayed": "true"},
            )
        await response(scope, receive, send)
