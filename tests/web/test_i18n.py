"""Translation: the zh-CN catalogue covers every string the code marks, keeps its placeholders and is
really Chinese; the app picks the language from the cookie, then Accept-Language, then zh-CN."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from fieldcast.accounts.security import PASSWORD_MIN
from fieldcast.config import Settings
from fieldcast.i18n import LOCALE_DIR, current_language
from fieldcast.web.problems import status_title

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
BABEL_CFG = ROOT / "babel.cfg"
TEMPLATES = SRC / "fieldcast" / "web" / "templates"

# The keywords `make messages` passes to `pybabel extract` (on top of Babel's defaults).
KEYWORDS: dict[str, Any] = {**DEFAULT_KEYWORDS, "_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}

PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
MIN_CJK_SHARE = 0.95

# Marked in the code but invisible to Babel (a marker nested inside another call's first argument).
# Each entry is a bug to fix in the code; the test below fails once it is fixed, so the list shrinks.
KNOWN_UNEXTRACTED: set[str] = set()


# == Catalogues and extraction ====================================================================


@cache
def catalogue(locale: str) -> Catalog:
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def entries(locale: str) -> list[Message]:
    return [m for m in catalogue(locale) if m.id]


def ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, list | tuple) else (message.id,)


def strings(message: Message) -> tuple[str, ...]:
    raw = message.string
    return tuple(str(s or "") for s in raw) if isinstance(raw, list | tuple) else (str(raw or ""),)


def key(msgid: str | tuple[str, ...]) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


def is_translated(message: Message | None) -> bool:
    return message is not None and not message.fuzzy and all(s.strip() for s in strings(message))


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def formats(text: str, names: set[str]) -> bool:
    """Does `text % params` work, as gettext(..., **params) and Jinja's newstyle _() do it?"""
    try:
        text % {name: 1 for name in names}
    except (KeyError, ValueError, TypeError):
        return False
    return True


@cache
def extracted() -> dict[str, list[str]]:
    """msgid -> where, from Babel's extraction with babel.cfg's own method map and options."""
    with BABEL_CFG.open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(BABEL_CFG))  # type: ignore[no-untyped-call]
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        SRC, method_map, options_map, keywords=KEYWORDS
    ):
        found.setdefault(key(message), []).append(f"{filename}:{lineno}")
    return found


def test_extraction_reaches_python_and_every_template() -> None:
    """A broken babel.cfg section silently skips files; every template with _() must yield strings."""
    seen = {where.rsplit(":", 1)[0] for places in extracted().values() for where in places}
    templates = {
        str(p.relative_to(SRC)) for p in TEMPLATES.rglob("*.html") if re.search(r"\b_\(", p.read_text("utf-8"))
    }
    assert templates, "no template uses _()?"
    assert not templates - seen, f"templates Babel did not extract: {sorted(templates - seen)}"
    assert any(f.endswith(".py") for f in seen), "no Python file was extracted"


def test_every_extracted_msgid_has_a_chinese_translation() -> None:
    zh = catalogue("zh_CN")
    missing = {msgid: places for msgid, places in extracted().items() if not is_translated(zh.get(msgid))}
    report = "\n".join(f"  {msgid!r}  ({', '.join(places[:2])})" for msgid, places in sorted(missing.items()))
    assert not missing, f"{len(missing)} msgid(s) untranslated or fuzzy in zh_CN (run `make messages`):\n{report}"


def _marked_literals() -> Iterator[tuple[str, str]]:
    """(msgid, file:line) for every string literal that is the first argument of a marker call
    anywhere in the Python sources, however deeply nested (Babel misses some of those)."""
    names = {"_", "N_", "gettext", "ngettext"}
    for path in sorted((SRC / "fieldcast").rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            first = node.args[0]
            if name in names and isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value, f"{path.relative_to(ROOT)}:{node.lineno}"


def test_every_marked_python_string_reaches_the_catalogue() -> None:
    zh = catalogue("zh_CN")
    absent: dict[str, str] = {}
    for msgid, where in _marked_literals():
        if not is_translated(zh.get(msgid)):
            absent.setdefault(msgid, where)
    unexpected = {m: w for m, w in absent.items() if m not in KNOWN_UNEXTRACTED}
    assert not unexpected, "marked for translation but not in the zh_CN catalogue:\n" + "\n".join(
        f"  {m!r} ({w})" for m, w in sorted(unexpected.items())
    )
    fixed = KNOWN_UNEXTRACTED - set(absent)
    assert not fixed, f"now extracted and translated, remove from KNOWN_UNEXTRACTED: {sorted(fixed)}"


def test_catalogue_headers_and_plural_forms() -> None:
    zh, en = catalogue("zh_CN"), catalogue("en")
    assert zh.plural_forms == "nplurals=1; plural=0;"
    assert en.plural_forms == "nplurals=2; plural=(n != 1);"
    for cat in (zh, en):
        assert cat.charset == "utf-8"
        assert not cat.fuzzy, "the catalogue header is marked fuzzy"
    assert not [m.id for m in entries("en") if m.fuzzy], "fuzzy entries in the en catalogue"
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in entries("en")} == {
        m.id if isinstance(m.id, str) else m.id[0] for m in entries("zh_CN")
    }, "zh_CN and en catalogues are out of step (run `make messages`)"


def test_translations_keep_their_placeholders_and_still_format() -> None:
    wrong: list[str] = []
    for message in entries("zh_CN"):
        msgids, msgstrs = ids(message), strings(message)
        expected = placeholders(msgids[-1])  # with plurals, the plural msgid carries every name
        allowed = set().union(*(placeholders(i) for i in msgids))
        for msgstr in msgstrs:
            if not msgstr:
                continue
            got = placeholders(msgstr)
            if not (expected <= got <= allowed):
                wrong.append(f"  {msgids[0]!r}: {sorted(allowed)} -> {msgstr!r}: {sorted(got)}")
            elif formats(msgids[0], allowed) and not formats(msgstr, got):
                wrong.append(f"  {msgids[0]!r}: {msgstr!r} breaks %-formatting (stray %?)")
    assert not wrong, "placeholders changed in zh_CN:\n" + "\n".join(wrong)


def test_chinese_translations_are_chinese() -> None:
    translated = [m for m in entries("zh_CN") if is_translated(m)]
    assert translated
    offenders = [m for m in translated if not any(CJK.search(s) for s in strings(m))]
    share = 1 - len(offenders) / len(translated)
    listing = "\n".join(f"  {ids(m)[0]!r} -> {strings(m)[0]!r}" for m in offenders)
    assert share >= MIN_CJK_SHARE, f"only {share:.0%} of zh_CN translations contain Chinese; offenders:\n{listing}"


def test_fallback_status_title_is_translated() -> None:
    token = current_language.set("zh-CN")
    try:
        titles = {status: status_title(status) for status in (400, 404, 422, 418)}
    finally:
        current_language.reset(token)
    if "Error" in KNOWN_UNEXTRACTED:
        titles.pop(418)
    assert all(CJK.search(t) for t in titles.values()), titles


# == Through the app ==============================================================================


def zh(msgid: str, **params: object) -> str:
    message = catalogue("zh_CN").get(msgid)
    assert message is not None, f"{msgid!r} is not in the zh_CN catalogue"
    assert is_translated(message), f"{msgid!r} untranslated"
    text = strings(message)[0]
    return text % params if params else text


HEADING = "Live selling for public welfare"
EN = {"accept-language": "en-US,en;q=0.9"}
ZH = {"accept-language": "zh-CN"}


def html_lang(page: httpx.Response) -> str:
    found = re.search(r'<html lang="([^"]+)"', page.text)
    assert found, page.text[:200]
    return found.group(1)


async def test_english_browsers_get_english(client: httpx.AsyncClient) -> None:
    r = await client.get("/", headers=EN)
    assert r.status_code == 200
    assert html_lang(r) == "en"
    assert f"<h1>{HEADING}</h1>" in r.text
    assert not CJK.search(r.text.replace("中文", "")), "Chinese text on an English page"


async def test_chinese_browsers_get_chinese(client: httpx.AsyncClient) -> None:
    r = await client.get("/", headers=ZH)
    assert html_lang(r) == "zh-CN"
    assert f"<h1>{zh(HEADING)}</h1>" in r.text
    assert HEADING not in r.text


async def test_without_accept_language_the_default_is_chinese(client: httpx.AsyncClient) -> None:
    assert "accept-language" not in client.headers
    r = await client.get("/")
    assert html_lang(r) == "zh-CN"
    assert zh(HEADING) in r.text


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("en", "en"),
        ("zh-TW,zh;q=0.9", "zh-CN"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "en"),
        ("en;q=0.3,zh-CN;q=0.8", "zh-CN"),
        ("de-DE", "zh-CN"),
    ],
)
async def test_accept_language_is_negotiated(client: httpx.AsyncClient, header: str, language: str) -> None:
    assert html_lang(await client.get("/", headers={"accept-language": header})) == language


async def test_language_switch_sets_a_cookie_that_beats_accept_language(client: httpx.AsyncClient) -> None:
    r = await client.get("/lang/en", params={"next": "/hosts"}, headers=ZH)
    assert r.status_code == 303
    assert r.headers["location"] == "/hosts"
    assert re.search(r"(^|, )fc_lang=en;", r.headers["set-cookie"]), r.headers["set-cookie"]
    hosts = await client.get("/hosts", headers=ZH)
    assert html_lang(hosts) == "en"
    assert "Verified hosts" in hosts.text
    home = await client.get("/", headers=ZH)
    assert html_lang(home) == "en"
    assert HEADING in home.text

    back = await client.get("/lang/zh-CN", params={"next": "/"})
    assert back.status_code == 303
    assert back.headers["location"] == "/"
    home = await client.get("/", headers=EN)
    assert html_lang(home) == "zh-CN"
    assert zh(HEADING) in home.text


async def test_language_switch_link_keeps_the_page(client: httpx.AsyncClient) -> None:
    page = await client.get("/orgs")
    assert 'href="/lang/en?next=/orgs"' in page.text
    page = await client.get("/orgs", headers=EN)
    assert 'href="/lang/zh-CN?next=/orgs"' in page.text


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "evil", ""]
)
async def test_language_switch_is_not_an_open_redirect(client: httpx.AsyncClient, target: str) -> None:
    r = await client.get("/lang/en", params={"next": target})
    assert r.status_code == 303
    assert r.headers["location"] == "/"


async def test_unknown_language_sets_no_cookie(client: httpx.AsyncClient) -> None:
    r = await client.get("/lang/xx", params={"next": "/hosts"})
    assert r.status_code == 303
    assert r.headers["location"] == "/hosts"
    assert "fc_lang" not in r.headers.get("set-cookie", "")
    assert html_lang(await client.get("/")) == "zh-CN"


SHORT_PASSWORD = {"email": "lang@example.com", "display_name": "兰", "password": "short"}


async def test_api_validation_errors_speak_chinese(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/signup", json=SHORT_PASSWORD, headers=ZH)
    assert r.status_code == 422
    problem = r.json()
    assert problem["title"] == zh("Invalid input")
    assert problem["detail"] == zh("Some fields are not valid.")
    [error] = [e for e in problem["errors"] if e["field"] == "password"]
    assert error["message"] == zh("Must be at least %(min_length)s characters.", min_length=PASSWORD_MIN)
    assert CJK.search(error["message"])


async def test_api_validation_errors_speak_english(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/signup", json=SHORT_PASSWORD, headers=EN)
    assert r.status_code == 422
    problem = r.json()
    assert (problem["title"], problem["detail"]) == ("Invalid input", "Some fields are not valid.")
    [error] = [e for e in problem["errors"] if e["field"] == "password"]
    assert error["message"] == f"Must be at least {PASSWORD_MIN} characters."


async def test_api_domain_errors_follow_the_language(client: httpx.AsyncClient) -> None:
    body = {"email": "nobody@example.com", "password": "wrong-password"}
    zh_r = await client.post("/api/v1/auth/signin", json=body, headers=ZH)
    en_r = await client.post("/api/v1/auth/signin", json=body, headers=EN)
    assert zh_r.status_code == en_r.status_code == 401
    assert zh_r.json()["detail"] == zh("Email or password is wrong.")
    assert en_r.json()["detail"] == "Email or password is wrong."
    assert zh_r.json()["title"] == zh("Sign-in required")
    assert en_r.json()["title"] == "Sign-in required"


async def test_not_found_page_follows_the_language(client: httpx.AsyncClient) -> None:
    zh_r = await client.get("/no/such/page", headers=ZH)
    en_r = await client.get("/no/such/page", headers=EN)
    assert zh_r.status_code == en_r.status_code == 404
    assert zh("There is nothing at this address.") in zh_r.text
    assert html_lang(zh_r) == "zh-CN"
    assert "There is nothing at this address." in en_r.text
    assert html_lang(en_r) == "en"


async def test_form_errors_are_shown_in_chinese(client: httpx.AsyncClient) -> None:
    page = await client.get("/signup")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found
    r = await client.post("/signup", data={**SHORT_PASSWORD, "csrf_token": found.group(1)})
    assert r.status_code == 422
    assert html_lang(r) == "zh-CN"
    assert zh("Must be at least %(min_length)s characters.", min_length=PASSWORD_MIN) in r.text
    assert zh("Please correct the marked fields.") in r.text


async def test_body_limit_error_follows_the_language(client: httpx.AsyncClient, settings: Settings) -> None:
    body = b"x" * (settings.max_request_bytes + 1)
    r = await client.post("/api/v1/auth/signup", content=body, headers={**EN, "content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["detail"] == f"The request is larger than {settings.max_request_bytes} bytes."
