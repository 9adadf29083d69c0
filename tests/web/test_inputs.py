"""What the API accepts: text another person reads is clean (inputs.clean_text), and every integer
of a request fits the column that stores it (inputs.Id and friends), so neither reaches the
database as something it cannot hold or a reader as something it does not show."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from pydantic import BaseModel

from fieldcast.inputs import BIGINT_MAX, CLEAN_LINE, CLEAN_TEXT, UnsafeText, clean_text
from tests.factories import PASSWORD, create_organisation, sign_up

# -- clean_text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Bob\u202egnp.exe", "text_bidi_control"),  # RIGHT-TO-LEFT OVERRIDE
        ("a\u202ab", "text_bidi_control"),
        ("a\u2067b\u2069", "text_bidi_control"),  # isolates
        ("a\u200fb", "text_bidi_control"),  # RIGHT-TO-LEFT MARK
        ("a\u061cb", "text_bidi_control"),  # ARABIC LETTER MARK
        ("a\x00b", "text_control_character"),
        ("a\x07b", "text_control_character"),
        ("a\x7fb", "text_control_character"),
        ("a\x85b", "text_control_character"),
        ("\u200b", "text_invisible"),
        ("\u200b\u200c\u200d", "text_invisible"),
        (" \u2060 \ufeff ", "text_invisible"),
        ("\u3164\u3164", "text_invisible"),  # Hangul filler
    ],
)
def test_clean_text_refuses_bidi_controls_and_invisible_text(text: str, code: str) -> None:
    with pytest.raises(UnsafeText) as refused:
        clean_text(text)
    assert refused.value.code == code


def test_clean_text_normalises_to_nfkc_but_keeps_chinese_punctuation() -> None:
    assert clean_text("ＡＢＣ１２３") == "ABC123"
    assert clean_text("好吃吗？真甜，（五斤）！") == "好吃吗？真甜，（五斤）！"
    assert clean_text("ﬁne") == "fine"


def test_clean_text_allows_line_breaks_unless_one_line() -> None:
    assert clean_text("第一行\n第二行\r\n\t缩进") == "第一行\n第二行\r\n\t缩进"
    for text in ("a\nb", "a\u2028b"):
        with pytest.raises(UnsafeText) as refused:
            clean_text(text, one_line=True)
        assert refused.value.code == "text_line_break"
    with pytest.raises(UnsafeText):
        clean_text("a\tb", one_line=True)


def test_clean_text_keeps_joiners_beside_visible_text() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean_text(family) == family
    assert clean_text("") == ""
    assert clean_text("   ") == "   "  # the field strips it; its minimum length decides


# -- through the API -------------------------------------------------------------------------------


def _field_error(r: httpx.Response, field: str) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    [error] = [e for e in r.json()["errors"] if e["field"] == field]
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("\u202eeciffo", "text_bidi_control"),
        ("Ann\x00", "text_control_character"),
        ("\u200b\u200b", "text_invisible"),
        ("Ann\nBob", "text_line_break"),
    ],
)
async def test_sign_up_refuses_a_display_name_that_misleads(client: httpx.AsyncClient, name: str, code: str) -> None:
    body = {"email": "spoof@example.com", "display_name": name, "password": PASSWORD}
    error = _field_error(await client.post("/api/v1/auth/signup", json=body), "display_name")
    assert error["code"] == code
    assert error["message"]


async def test_display_names_are_stored_in_nfkc(client: httpx.AsyncClient) -> None:
    user = await sign_up(client, "wide@example.com", "ＡＮＮ")
    assert user["display_name"] == "ANN"


async def test_organisation_names_are_clean_too(client: httpx.AsyncClient) -> None:
    await sign_up(client, "org@example.com")
    body = {"slug": "spoof-org", "name": "县\u202e农业局", "kind": "government"}
    error = _field_error(await client.post("/api/v1/organisations", json=body), "name")
    assert error["code"] == "text_bidi_control"
    created = await create_organisation(client, {"slug": "wide-org", "name": "ＡＢ合作社", "kind": "cooperative"})
    assert created["name"] == "AB合作社"


# -- every request field and parameter, by construction --------------------------------------------

# Text fields that are not prose someone else reads: secrets, e-mail addresses, machine codes with
# their own pattern, and the claim checker's input (checked, never stored or shown to anyone).
NOT_SHOWN_TEXT = {
    "password",
    "current_password",
    "new_password",
    "email",
    "token",
    "slug",
    "id_number",
    "contact_phone",
    "phone",
    "region_code",
    "jurisdiction_code",
    "authority",  # an inspection authority's slug, looked up, never shown as typed
    "origin_region",
    "ship_from_region",
    "text",
}


def _routes(app: FastAPI) -> Iterator[APIRoute | APIWebSocketRoute]:
    def walk(routes: list[Any]) -> Iterator[APIRoute | APIWebSocketRoute]:
        for route in routes:
            if hasattr(route, "original_router"):
                yield from walk(route.original_router.routes)
            elif isinstance(route, APIRoute | APIWebSocketRoute):
                yield route

    return walk(app.routes)


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _body_fields(app: FastAPI) -> Iterator[tuple[str, str, Any, list[Any]]]:
    """(model.field, route, annotation, metadata) of every field of every request body model."""
    seen: set[type[BaseModel]] = set()

    def fields(model: type[BaseModel], where: str) -> Iterator[tuple[str, str, Any, list[Any]]]:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            yield f"{model.__name__}.{name}", where, info.annotation, list(info.metadata)
            for inner in _models(info.annotation):
                yield from fields(inner, where)

    for route in _routes(app):
        stack = [route.dependant]
        while stack:
            dependant = stack.pop()
            stack.extend(dependant.dependencies)
            for param in dependant.body_params:
                for model in _models(param.field_info.annotation):
                    yield from fields(model, route.path)


def _flat(annotation: Any) -> list[Any]:
    """The annotation and everything inside it (Optional, list[...], Annotated metadata)."""
    out = [annotation]
    for arg in typing.get_args(annotation):
        out.extend(_flat(arg))
    metadata = getattr(annotation, "__metadata__", ())
    out.extend(metadata)
    return out


def test_every_text_field_someone_else_reads_is_clean(app: FastAPI) -> None:
    unclean = []
    for name, where, annotation, metadata in _body_fields(app):
        parts = _flat(annotation) + metadata
        if str not in parts or name.rsplit(".", 1)[1] in NOT_SHOWN_TEXT:
            continue
        if not any(p is CLEAN_TEXT or p is CLEAN_LINE for p in parts):
            unclean.append(f"{name} ({where})")
    assert unclean == []


def _bounds(metadata: list[Any]) -> tuple[Any, Any]:
    low = high = None
    for item in [m for entry in metadata for m in [entry, *getattr(entry, "metadata", [])]]:
        for attr in ("ge", "gt"):
            low = getattr(item, attr, None) if getattr(item, attr, None) is not None else low
        for attr in ("le", "lt"):
            high = getattr(item, attr, None) if getattr(item, attr, None) is not None else high
    return low, high


def _int_bounds(annotation: Any, metadata: list[Any]) -> list[tuple[Any, Any]]:
    """The (low, high) of each integer in the annotation (an int, an optional one, list items)."""
    if annotation is int:
        return [_bounds(metadata)]
    found = []
    inner_metadata = list(getattr(annotation, "__metadata__", ()))
    for arg in typing.get_args(annotation):
        if arg is int and inner_metadata:
            found.append(_bounds(inner_metadata + metadata))
        elif arg is int:
            found.append(_bounds(metadata) if typing.get_origin(annotation) is not list else (None, None))
        elif not isinstance(arg, type) or not issubclass(arg, BaseModel):
            found.extend(_int_bounds(arg, metadata if typing.get_origin(annotation) is not list else []))
    return found


def test_every_integer_of_a_request_fits_a_bigint(app: FastAPI) -> None:
    """Path, query and body integers of every route (API, pages and sockets) have both bounds,
    within PostgreSQL's bigint: a larger one is a 422, never an OverflowError in the driver."""
    unbounded = []
    for route in _routes(app):
        stack = [route.dependant]
        while stack:
            dependant = stack.pop()
            stack.extend(dependant.dependencies)
            params = dependant.path_params + dependant.query_params + dependant.header_params
            for param in params:
                info = param.field_info
                for low, high in _int_bounds(info.annotation, list(info.metadata)):
                    if low is None or high is None or high > BIGINT_MAX or low < -BIGINT_MAX:
                        unbounded.append(f"{route.path} {param.name}")
    for name, where, annotation, metadata in _body_fields(app):
        for low, high in _int_bounds(annotation, metadata):
            if low is None or high is None or high > BIGINT_MAX or low < -BIGINT_MAX:
                unbounded.append(f"{name} ({where})")
    assert sorted(set(unbounded)) == []
