"""HTML form handling: CSRF check, validation into the API's pydantic models, errors per field, and
`submit`, the one way a page runs an action for a form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import DomainError, NotAllowed, NotAuthenticated, NotFound
from fieldcast.i18n import gettext
from fieldcast.web.deps import CSRF_FORM_FIELD, check_csrf
from fieldcast.web.problems import field_errors

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# Who may do what, and whether the thing exists: pages that answer these with the error page
# (403/401/404) rather than a message on the form pass them to `submit` as `reraise`.
ACCESS_ERRORS: tuple[type[DomainError], ...] = (NotAllowed, NotAuthenticated, NotFound)


@dataclass
class Form(Generic[M]):
    """What a page needs to show a form again: the values typed and the message per field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""
    data: M | None = None
    # The domain error that refused the form, for pages whose answer depends on it (status, hints).
    error: DomainError | None = None

    def fail(self, exc: DomainError, field_map: Mapping[str, str] | None = None) -> Form[M]:
        """Show `exc` on its field (renamed by `field_map` where the form's names differ from the
        API's), or as the form's message when it names none."""
        text = gettext(exc.message, **exc.params)
        self.error = exc
        if exc.field:
            self.errors[(field_map or {}).get(exc.field, exc.field)] = text
        else:
            self.message = text
        return self


@dataclass(frozen=True)
class Done(Generic[T]):
    """A form's action went through; `value` is what it returned. Always true, whatever the value,
    so `if done := await submit(...)` reads as "if it went through"."""

    value: T


async def submit(
    uow: UnitOfWork,
    form: Form[M],
    act: Callable[[], Awaitable[T]],
    *,
    field_map: Mapping[str, str] | None = None,
    reraise: tuple[type[DomainError], ...] = (),
) -> Done[T] | None:
    """Run a form's action. On a domain error, roll the unit of work back (its surviving objects
    are reloaded, so the page can show the form again), put the message on the form and return
    None; the page answers 422. Errors of a `reraise` type are not the form's business: they
    propagate to the error page, and the unit of work rolls back on the way out."""
    try:
        value = await act()
    except reraise:
        raise
    except DomainError as exc:
        await uow.rollback()
        form.fail(exc, field_map)
        return None
    return Done(value)


def see_other(path: str) -> Response:
    """The answer to a successful form post: 303, so a reload does not post again."""
    return RedirectResponse(path, status_code=303)


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: a `next` parameter must not become an open redirect."""
    # Browsers drop tabs and newlines inside URLs ("/\t/evil.example" becomes "//evil.example"), so
    # any control character or space refuses the target too.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ch <= " " or ch == "\x7f" for ch in target)
    ):
        return target
    return default


async def read_raw_form(request: Request) -> tuple[FormData, dict[str, str]]:
    """Check CSRF and return the posted form with its text fields (files stay in the FormData)."""
    raw = await request.form()
    check_csrf(request, str(raw.get(CSRF_FORM_FIELD) or ""))
    return raw, {k: str(v) for k, v in raw.items() if k != CSRF_FORM_FIELD and isinstance(v, str)}


async def read_upload(raw: FormData, name: str, limit: int) -> bytes | None:
    """The bytes of an uploaded file field (None when no file was chosen), read up to limit + 1 so
    the action can refuse an oversized one. Closes the form's spooled files: FastAPI closes only
    the forms it parsed itself."""
    upload = raw.get(name)
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            return await upload.read(limit + 1)
        return None
    finally:
        await raw.close()


async def read_form(request: Request, model: type[M], *, secret_fields: tuple[str, ...] = ()) -> Form[M]:
    """Check CSRF, then validate the posted fields with `model`. Secret fields are not echoed back."""
    _raw, values = await read_raw_form(request)
    form: Form[M] = Form(values={k: v for k, v in values.items() if k not in secret_fields})
    try:
        form.data = model.model_validate({k: v for k, v in values.items() if k in model.model_fields})
    except ValidationError as exc:
        for err in field_errors(exc.errors()):
            form.errors.setdefault(err.field, err.message)
    return form


def validate_into(
    form: Form[M], model: type[M], data: Mapping[str, object], field_map: dict[str, str] | None = None
) -> Form[M]:
    """Validate already-converted values; errors are reported under the form's own field names."""
    mapping = field_map or {}
    try:
        form.data = model.model_validate(data)
    except ValidationError as exc:
        for err in field_errors(exc.errors()):
            form.errors.setdefault(mapping.get(err.field, err.field), err.message)
    return form


async def check_form_csrf(request: Request) -> None:
    """For forms with no fields but the token (buttons that post)."""
    await read_raw_form(request)
