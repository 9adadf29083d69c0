"""Live-room fixtures for page tests: a ready organisation (verified hosts, one official, an
inspected and an uninspected published product) and helpers for posting HTML forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import LiveOrg, make_live_org


@pytest.fixture
async def live_org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> LiveOrg:
    return await make_live_org(app, make_client, "jingyu")


async def post_form(client: httpx.AsyncClient, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
    """Post an HTML form the way the browser does: urlencoded, with the session's CSRF token."""
    token = client.headers.get("X-CSRF-Token") or (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
    return await client.post(path, data={**(data or {}), "csrf_token": token})
