"""Translation: zh-CN first, English second, from the Babel catalogues in web/locale.

Source strings (msgids) are English; the zh-CN catalogue translates every one of them, and a
test checks that nothing user-facing escapes the catalogue."""

from __future__ import annotations

import gettext as _gettext
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from fieldcast.config import LANGUAGES, Language

LOCALE_DIR = Path(__file__).parent / "web" / "locale"
DOMAIN = "messages"

current_language: ContextVar[Language] = ContextVar("current_language", default="zh-CN")


def N_(message: str) -> str:
    """Mark a string for extraction where it is translated later (errors, enum labels)."""
    return message


def _locale_dir_name(language: Language) -> str:
    return language.replace("-", "_")


@cache
def translations(language: Language) -> _gettext.NullTranslations:
    """Compile the .po catalogue in memory: no separate compile step to forget."""
    po_path = LOCALE_DIR / _locale_dir_name(language) / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=_locale_dir_name(language))
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def gettext(message: str, **params: Any) -> str:
    text = translations(current_language.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(current_language.get()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext


def negotiate(accept_language: str | None) -> Language | None:
    """Pick a supported language from an Accept-Language header, or None."""
    if not accept_language:
        return None
    ranked: list[tuple[float, str]] = []
    for part in accept_language.split(",")[:20]:
        tag, _sep, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((weight, tag.strip().lower()))
    for weight, tag in sorted(ranked, key=lambda r: -r[0]):
        if weight <= 0:  # q=0 means "not acceptable"
            continue
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return None


def coerce_language(value: str | None) -> Language | None:
    for language in LANGUAGES:
        if value and value.lower() == language.lower():
            return language
    return None
