"""What the platform accepts from people, in one place: integers within the range of the column
that stores them, and text that another person can read without being misled.

Every id, count and amount of a request (path, query, body, form, socket) is one of the bounded
types here, so a number the database cannot hold is a 422 and never reaches the driver (SQLite
raises OverflowError past 2**63 - 1, PostgreSQL an error of its own). Every text field that someone
else sees goes through `clean_text`: NFKC (full-width letters and digits become the usual ones),
and refused when it carries a bidirectional control (text that reads differently from what it
is), a control character, or nothing visible at all."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from fieldcast.i18n import N_

# PostgreSQL's bigint (ids, money, weights: BigInteger columns) and integer (counts: Integer
# columns). SQLite's INTEGER holds the first; the second is the stricter of the two backends.
BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1

Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
"""A row id: 1 up to the largest bigint."""

BigCount = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
"""A non-negative amount stored in a BigInteger column (fen, grams, an event id to resume after)."""

Count = Annotated[int, Field(ge=0, le=INT_MAX)]
"""A non-negative number stored in an Integer column (units, a position)."""

def parse_int(text: str, *, low: int = 1, high: int = BIGINT_MAX) -> int | None:
    """A form field's digits as an int within [low, high] (by default, a row id), else None. For
    pages that read a form by hand; what goes through a schema is bounded by the types above."""
    raw = text.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high)):
        return None
    value = int(raw)
    return value if low <= value <= high else None


# Characters that change the order in which text is shown (RLO makes "gpj.exe" read "exe.jpg"):
# embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069, the marks LRM, RLM and ALM.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# Characters that show nothing: zero-width space, non-joiner, joiner, word joiner, BOM, Mongolian
# vowel separator, soft hyphen, combining grapheme joiner, Hangul fillers, braille blank. Allowed
# beside visible text (a joiner inside an emoji, a soft hyphen in a long word), never alone.
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad\u034f\u115f\u1160\u3164\uffa0\u2800")
# Full-width punctuation is how Chinese is written (，。？！：；（）), not a look-alike: NFKC would
# turn it into ASCII, so it is kept as typed. Full-width letters and digits are normalised.
_CJK_PUNCTUATION = re.compile("([\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]+)")

TEXT_MESSAGES: dict[str, str] = {
    "text_bidi_control": N_("Must not contain characters that change the direction of the text."),
    "text_control_character": N_("Must not contain control characters."),
    "text_line_break": N_("Must be on one line."),
    "text_invisible": N_("Must contain visible characters."),
}


class UnsafeText(ValueError):
    """Text refused by clean_text; `code` is a key of TEXT_MESSAGES."""

    def __init__(self, code: str) -> None:
        super().__init__(TEXT_MESSAGES[code])
        self.code = code
        self.message = TEXT_MESSAGES[code]


def _is_invisible(ch: str) -> bool:
    """Whitespace, a zero-width or other format character (Cf), or a variation selector."""
    return (
        ch.isspace()
        or ch in INVISIBLE
        or unicodedata.category(ch) == "Cf"
        or "\ufe00" <= ch <= "\ufe0f"
        or "\U000e0100" <= ch <= "\U000e01ef"
    )


def clean_text(value: str, *, one_line: bool = False) -> str:
    """`value` in NFKC (but for Chinese full-width punctuation), or UnsafeText: a bidirectional
    control, a control character (other than tab and line breaks, which are allowed unless
    `one_line`), or invisible characters with nothing visible. Empty or whitespace-only text
    passes: the fields strip it, and their own minimum length says whether they may be empty."""
    parts = _CJK_PUNCTUATION.split(value)  # odd indexes: the punctuation runs
    text = "".join(part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(parts))
    for ch in text:
        if ch in BIDI_CONTROLS:
            raise UnsafeText("text_bidi_control")
        if ch in "\r\n\u2028\u2029" and one_line:
            raise UnsafeText("text_line_break")
        if ch in "\r\n\t" and not one_line:
            continue
        if unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029":
            raise UnsafeText("text_control_character")
    if text.strip() and all(_is_invisible(ch) for ch in text):
        raise UnsafeText("text_invisible")
    return text


def _validator(one_line: bool) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # the str validator after this one says what is wrong
        try:
            return clean_text(value, one_line=one_line)
        except UnsafeText as exc:
            raise PydanticCustomError(exc.code, exc.message) from None

    return BeforeValidator(check)


CLEAN_TEXT = _validator(one_line=False)
"""Annotated metadata: the field's text goes through clean_text (line breaks allowed)."""
CLEAN_LINE = _validator(one_line=True)
"""Annotated metadata: clean_text with one_line (names, titles, labels)."""
