"""Live-room fixtures for page tests: a ready organisation (verified hosts, one official, an
inspected and an uninspected published product) and helpers for posting HTML forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.live.factory import LiveOrg, make_live_org, session_body


@pytest.fixture
async def live_org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> LiveOrg:
    return await make_live_org(app, make_client, "jingyu")


async def schedule_session(org: LiveOrg, **overrides: Any) -> dict[str, Any]:
    """A show scheduled by the organiser through the API (the host is a first secretary)."""
    r = await org["organiser"].post("/api/v1/sessions", json=session_body(org, **overrides))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def post_form(client: httpx.AsyncClient, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
    """Post an HTML form the way the browser does: urlencoded, with the session's CSRF token."""
    token = client.headers.get("X-CSRF-Token") or (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
    return await client.post(path, data={**(data or {}), "csrf_token": token})
