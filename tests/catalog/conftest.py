"""Catalog fixtures: `make_org(slug, region=...)` makes an organisation with one signed-in member
per role and a supplier; `make_authority(slug, jurisdiction, verified=True)` an inspection
authority with an "inspector", verified by `admin` (tests/factories.py)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from tests import factories


@pytest.fixture
def make_org(app: FastAPI, make_client: factories.MakeClient) -> Callable[..., Awaitable[factories.Org]]:
    return functools.partial(factories.make_org, app, make_client)


@pytest.fixture
async def admin(app: FastAPI, make_client: factories.MakeClient) -> httpx.AsyncClient:
    """A signed-in platform administrator."""
    client = make_client()
    await factories.make_admin(app, client)
    return client


@pytest.fixture
def make_authority(
    app: FastAPI, make_client: factories.MakeClient, admin: httpx.AsyncClient
) -> Callable[..., Awaitable[factories.Org]]:
    async def make(slug: str, jurisdiction: str = factories.JINGYU, *, verified: bool = True) -> factories.Org:
        return await factories.make_authority(app, make_client, slug, jurisdiction, admin=admin if verified else None)

    return make
