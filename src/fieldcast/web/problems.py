"""RFC 9457 problem+json for the API, with the fields at fault, mapped in one place."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from fieldcast.errors import BACKEND_ERRORS, DomainError, backend_unavailable
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import TEXT_MESSAGES

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str
    code: str
    message: str


class Problem(BaseModel):
    """Schema of every API error body (documented in OpenAPI)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] = []


_PYDANTIC_MESSAGES: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_short": N_("Must be at least %(min_length)s characters."),
    "string_too_long": N_("Must be at most %(max_length)s characters."),
    "too_short": N_("Must have at least %(min_length)s items."),
    "too_long": N_("Must have at most %(max_length)s items."),
    "string_pattern_mismatch": N_("Contains characters that are not allowed here."),
    "value_error": N_("This value is not valid."),
    "enum": N_("Choose one of the offered values."),
    "literal_error": N_("Choose one of the offered values."),
    "int_parsing": N_("Enter a whole number."),
    "int_type": N_("Enter a whole number."),
    "greater_than_equal": N_("Must be at least %(ge)s."),
    "greater_than": N_("Must be greater than %(gt)s."),
    "less_than_equal": N_("Must be at most %(le)s."),
    "less_than": N_("Must be less than %(lt)s."),
    "extra_forbidden": N_("This field is not accepted here."),
    "json_invalid": N_("The request body is not valid JSON."),
    "model_attributes_type": N_("The request body must be a JSON object."),
    "dict_type": N_("The request body must be a JSON object."),
    "bool_parsing": N_("Enter true or false."),
    "string_type": N_("Enter text."),
    **TEXT_MESSAGES,
}
_EMAIL_MESSAGE = N_("Enter a valid email address.")
_ERROR_TITLE = N_("Error")
_GENERIC_MESSAGE = N_("This value is not valid.")

_STATUS_TITLES: dict[int, str] = {
    400: N_("Bad request"),
    401: N_("Sign-in required"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Request too large"),
    415: N_("Unsupported media type"),
    422: N_("Invalid input"),
    429: N_("Too many requests"),
    500: N_("Server error"),
}


def status_title(status: int) -> str:
    return gettext(_STATUS_TITLES.get(status, _ERROR_TITLE))


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    """Translate pydantic errors into our field errors (dotted field path, own message)."""
    out: list[FieldError] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        kind = str(err.get("type", "value_error"))
        ctx = {k: v for k, v in (err.get("ctx") or {}).items() if isinstance(v, int | float | str)}
        msg = str(err.get("msg", ""))
        if kind == "value_error" and "email" in msg.lower():
            template = _EMAIL_MESSAGE
        else:
            template = _PYDANTIC_MESSAGES.get(kind, _GENERIC_MESSAGE)
        try:
            message = gettext(template, **ctx) if "%(" in template else gettext(template)
        except (KeyError, ValueError):
            message = gettext(_GENERIC_MESSAGE)
        name = "body" if kind == "json_invalid" else ".".join(loc) or "body"
        out.append(FieldError(field=name, code=kind, message=message))
    return out


def problem_response(
    status: int,
    code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = Problem(
        type=f"/problems/{code}",
        title=status_title(status),
        status=status,
        detail=detail,
        code=code,
        errors=errors or [],
    )
    return Response(orjson.dumps(body.model_dump()), status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def domain_problem(exc: DomainError) -> Response:
    detail = gettext(exc.message, **exc.params)
    errors = [FieldError(field=exc.field, code=exc.code, message=detail)] if exc.field else []
    response = problem_response(exc.status, exc.code, detail, errors)
    retry_after = exc.params.get("retry_after_s")
    if exc.status == 429 and isinstance(retry_after, int | float):
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


# No database connection came free in time (a flash sale's peak): nothing was written, and the
# client should come back in a moment rather than be told that something broke.
BUSY = N_("We are very busy right now. Nothing was changed; please try again in a moment.")


def busy_problem() -> Response:
    return problem_response(503, "busy", gettext(BUSY), headers={"Retry-After": "1"})


# Redis or the database could not be reached while answering: nothing was changed by this request.
UNAVAILABLE = N_("A service we rely on is not answering right now. Please try again shortly.")


def unavailable_problem() -> Response:
    return problem_response(503, "unavailable", gettext(UNAVAILABLE), headers={"Retry-After": "5"})


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


HtmlError = Callable[[Request, int, str], Awaitable[Response]]


def install_problem_handlers(app: FastAPI, html_error: HtmlError) -> None:
    """API paths get problem+json; pages get an HTML error page from `html_error`."""

    @app.exception_handler(DomainError)
    async def on_domain(request: Request, exc: DomainError) -> Response:
        if is_api(request):
            return domain_problem(exc)
        return await html_error(request, exc.status, gettext(exc.message, **exc.params))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = field_errors(exc.errors())
        detail = gettext(N_("Some fields are not valid."))
        if is_api(request):
            return problem_response(422, "invalid", detail, errors)
        return await html_error(request, 422, detail + " " + "; ".join(e.message for e in errors))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        # Starlette's details are English reason phrases; show our translated title instead.
        detail = status_title(exc.status_code)
        if exc.status_code == 404:
            detail = gettext(N_("There is nothing at this address."))
        elif exc.status_code == 405:
            detail = gettext(N_("This address does not accept that method."))
        if is_api(request):
            return problem_response(exc.status_code, f"http_{exc.status_code}", detail, headers=dict(exc.headers or {}))
        return await html_error(request, exc.status_code, detail)

    async def on_busy(request: Request, exc: Exception) -> Response:
        if is_api(request):
            return busy_problem()
        return await html_error(request, 503, gettext(BUSY))

    app.add_exception_handler(sa_exc.TimeoutError, on_busy)

    async def on_backend_error(request: Request, exc: Exception) -> Response:
        if not backend_unavailable(exc):
            raise exc  # a bug, not an outage: the 500 below, with its traceback in the log
        # Redis or the database is away: one line in the log, 503 with Retry-After to the client.
        log.warning("%s %s: 503, a backend is unavailable (%r)", request.method, request.url.path, exc)
        if is_api(request):
            return unavailable_problem()
        return await html_error(request, 503, gettext(UNAVAILABLE))

    for backend_error in BACKEND_ERRORS:
        app.add_exception_handler(backend_error, on_backend_error)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        if isinstance(exc, sa_exc.TimeoutError):  # raised in a middleware, outside the router
            return await on_busy(request, exc)
        if backend_unavailable(exc):  # raised in a middleware, outside the router
            return await on_backend_error(request, exc)
        detail = gettext(N_("Something went wrong on our side. Nothing was changed; please try again."))
        if is_api(request):
            return problem_response(500, "server_error", detail)
        return await html_error(request, 500, detail)
