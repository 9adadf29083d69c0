"""Commerce fixtures: `shop`, an organisation ready to sell (tests/factories.py make_live_org:
owner, organiser, supplier, verified hosts, an outsider, two published products) with a
supervisor added; `buyer`, a signed-up buyer with one address."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from fieldcast.accounts.models import Role
from tests.commerce.buyers import Buyer, make_buyer
from tests.factories import LiveOrg, MakeClient, add_person, make_live_org


@pytest.fixture
async def shop(app: FastAPI, make_client: MakeClient) -> LiveOrg:
    org = await make_live_org(app, make_client, "jingyu")
    await add_person(app, make_client, org, "supervisor", Role.SUPERVISOR)
    return org


@pytest.fixture
async def buyer(make_client: MakeClient) -> Buyer:
    return await make_buyer(make_client)
