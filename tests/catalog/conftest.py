"""Catalog fixtures: `make_org(slug, region=...)` makes an organisation with one signed-in member
per role and a supplier (tests/factories.py)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import pytest
from fastapi import FastAPI

from tests import factories


@pytest.fixture
def make_org(app: FastAPI, make_client: factories.MakeClient) -> Callable[..., Awaitable[factories.Org]]:
    return functools.partial(factories.make_org, app, make_client)
