"""What every capability's JSON API shares: the problem responses it documents, pagination
parameters and page shape, and the one base of its input and output schemas."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from fieldcast.inputs import CLEAN_LINE, CLEAN_TEXT
from fieldcast.web.problems import Problem

T = TypeVar("T")

# Error bodies every API router documents (RFC 9457 problem+json): 400 for a body that is not
# JSON or form data at all, 413 for one past the size limit (web/middleware.py), 429 from a
# throttle, 503 when no database connection came free in time (web/problems.py, busy).
PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}

PAGE_LIMIT_MAX = 200
Limit = Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def text(min_length: int, max_length: int, *, one_line: bool = False) -> type[str]:
    """A text field, stripped, with explicit limits, and clean for others to read
    (inputs.clean_text: NFKC; no bidi or control characters; not invisible only)."""
    return Annotated[  # type: ignore[return-value]
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        # After the constraints in the list, so it runs before them and they keep their own
        # error types (string_too_long, not the generic too_long).
        CLEAN_LINE if one_line else CLEAN_TEXT,
    ]


class In(BaseModel):
    """Base of every request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Base of every response body: built from table rows."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list: the items, how many there are in all, and where this page starts."""

    items: list[T]
    total: int
    limit: int
    offset: int
