"""Domain errors with stable codes. The HTTP layer maps them to problem+json in one place."""

from __future__ import annotations

from typing import Any, ClassVar

from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_exc

# The WebSocket close code for "try again later" (RFC 6455 registry): a room socket opened while
# Redis or the database cannot be reached is closed with it; the room page's script reconnects.
CLOSE_TRY_AGAIN = 1013
# The exception classes an outage of Redis or the database raises (backend_unavailable tells which
# instances of the broader ones are one).
BACKEND_ERRORS: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    sa_exc.DBAPIError,
    ConnectionError,
)


class DomainError(Exception):
    """Base of every business-rule failure. `message` is a catalogue msgid (English source text)
    formatted with `params` after translation; `field` names the input at fault, if any."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "domain_error"

    def __init__(self, message: str, *, field: str | None = None, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params


class NotAuthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class NotAllowed(DomainError):
    status = 403
    code = "not_allowed"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    status = 422
    code = "invalid"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


def backend_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says a shared backend could not be reached (Redis refused, timed out or went
    away; the database's connection failed or none came free), rather than a bug: the caller
    answers 503 or closes with CLOSE_TRY_AGAIN and logs one line, without a traceback."""
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError | redis_errors.BusyLoadingError):
        return True
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | TimeoutError)
