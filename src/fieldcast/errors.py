"""Domain errors with stable codes. The HTTP layer maps them to problem+json in one place."""

from __future__ import annotations

from typing import Any, ClassVar


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
