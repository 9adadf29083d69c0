"""Idempotency-Key for API writes: a retried request gets the first response, never a second effect.

Keys are scoped to the caller (session user or bearer token), method and path; reusing a key with
a different body is refused. The middleware opens the request's unit of work itself (the handler's
`Uow` dependency gets it), holds the response back until it has recorded the key and the response
in that transaction and committed, and only then sends it (db/idempotency.py).

Only successes (2xx, 3xx) are recorded. A refusal (4xx: sold out, over a limit, not allowed,
throttled) and a server error (5xx) wrote nothing, since the handler's work is rolled back with
them: the same key may be tried again at once and is decided afresh (a sold-out sale may have
units again). Not recording them also keeps a refusal a read: in a flash sale, where almost every
buyer is refused, no refusal costs a commit."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fieldcast.db import idempotency as keys
from fieldcast.i18n import N_, gettext
from fieldcast.web.deps import STATE_UOW
from fieldcast.web.problems import busy_problem, problem_response

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
KEY_MAX = 255
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REPLAYED = (b"idempotent-replayed", b"true")


def _principal(scope: Scope, headers: dict[bytes, bytes]) -> str:
    auth = headers.get(b"authorization", b"")
    if auth.lower().startswith(b"bearer "):
        return "token:" + hashlib.sha256(auth[7:].strip()).hexdigest()
    session = scope.get("session") or {}
    uid = session.get("uid")
    return f"user:{uid}" if uid is not None else "anonymous"


def key_hashes(scope: Scope, headers: dict[bytes, bytes], key: bytes, body: bytes) -> tuple[str, str]:
    """A request's key as recorded (caller, method, path, key) and its fingerprint (query, body)."""
    scope_hash = hashlib.sha256(
        "\n".join([_principal(scope, headers), scope["method"], scope["path"], key.decode("latin-1")]).encode()
    ).hexdigest()
    return scope_hash, hashlib.sha256(scope.get("query_string", b"") + b"\n" + body).hexdigest()


def body_then(body: bytes, receive: Receive) -> Receive:
    """A receive for an app behind a middleware that already read the request's body: that body
    first, then the client's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


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

        scope_hash, request_hash = key_hashes(scope, headers, key, body)
        try:
            held = await self._run(scope, receive, send, body, scope_hash, request_hash)
        except PoolTimeout:
            # No connection came free: nothing ran, nothing was sent; the client may retry.
            await busy_problem()(scope, receive, send)
            return
        if held:
            await self.deliver(held, send)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, scope_hash: str, request_hash: str
    ) -> list[Message]:
        """Run the request in a unit of work that records its key; the response to deliver after
        the commit ([] when a repeat was answered here)."""
        services = scope["app"].state.ctx
        async with services.uow() as uow:
            stored = await keys.take_turn(uow.session, scope_hash)  # an expired key is forgotten
            if stored is not None:
                await self._answer_repeat(stored, request_hash, scope, receive, send)
                return []

            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            scope.setdefault("state", {})[STATE_UOW] = uow
            try:
                await self.app(scope, body_then(body, receive), hold)
            except BaseException:
                await uow.rollback()
                raise
            finally:
                scope["state"].pop(STATE_UOW, None)

            status, content_type, response_body = _response_of(held)
            if status >= 400:
                await uow.rollback()
            else:
                keys.record(uow.session, scope_hash, request_hash, status, content_type, response_body)
                try:
                    await uow.commit()
                except IntegrityError:
                    # The same key committed first in another request: this one's work is undone,
                    # and it answers what the first one did.
                    winner = await keys.find(uow.session, scope_hash)
                    if winner is None:
                        raise
                    await self._answer_repeat(winner, request_hash, scope, receive, send)
                    return []
        return held

    async def deliver(self, held: list[Message], send: Send) -> None:
        """Send the held response (after the commit; a failure here cannot undo the write)."""
        for message in held:
            await send(message)

    async def _answer_repeat(
        self, stored: keys.IdempotentRequest, request_hash: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if stored.request_hash != request_hash:
            response: Response = problem_response(
                422,
                "idempotency_key_reused",
                gettext(N_("This Idempotency-Key was already used for a different request.")),
            )
        else:
            response = Response(
                stored.body,
                status_code=stored.status_code,
                headers={"content-type": stored.content_type, REPLAYED[0].decode(): REPLAYED[1].decode()},
            )
        await response(scope, receive, send)


def _response_of(held: list[Message]) -> tuple[int, str, bytes]:
    status = 500
    content_type = ""
    body = b""
    for message in held:
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers: Any = message.get("headers", [])
            content_type = next((v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), "")
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")
    return status, content_type, body
