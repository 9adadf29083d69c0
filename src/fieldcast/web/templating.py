"""Jinja2 templates with the gettext callables of the request's language."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_datetime
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from fieldcast.i18n import current_language, translations
from fieldcast.labels import label, labels_of
from fieldcast.web.deps import csrf_token
from fieldcast.web.money import format_yuan
from fieldcast.web.page_cache import signed_in_shell

TEMPLATES_DIR = Path(__file__).parent / "templates"
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")


def _gettext(message: str) -> str:
    return translations(current_language.get()).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


def _local_time(value: datetime | None, fmt: str = "medium") -> str:
    """Show UTC times in Asia/Shanghai, in the request's language."""
    if value is None:
        return ""
    locale = current_language.get().replace("-", "_")
    return format_datetime(value.astimezone(DISPLAY_TZ), format=fmt, locale=locale)


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["local_time"] = _local_time
    env.globals["current_language"] = current_language.get
    env.globals["label"] = label
    env.globals["labels_of"] = labels_of
    env.filters["yuan"] = format_yuan
    return Jinja2Templates(env=env)


templates = make_templates()


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> Response:
    """Render a page with what every page needs: user, CSRF token, language, settings."""
    ctx = dict(context or {})
    ctx.setdefault("user", getattr(request.state, "user", None))
    # Signed in: a user, or the shell every signed-in visitor of a cached page gets (no user then:
    # what is the visitor's own is fetched by the page's script).
    ctx.setdefault("signed_in", ctx["user"] is not None or signed_in_shell(request))
    ctx["csrf_token"] = csrf_token(request)
    ctx["settings"] = request.app.state.ctx.settings
    ctx["language"] = current_language.get()
    ctx.setdefault("unread_notifications", getattr(request.state, "unread_notifications", 0))
    ctx.setdefault("supervises", getattr(request.state, "supervises", False))  # the menu's integrity link
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
