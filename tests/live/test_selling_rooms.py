"""Storefronts and product pages show the rooms that sell their goods: live or upcoming rooms and
replays whose shelf holds one of the product's SKUs; never a cancelled room or one without it."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from fastapi import FastAPI

from fieldcast.catalog.models import Sku
from fieldcast.live.models import LiveSession, ReplayState, SessionState
from tests.factories import LiveOrg, create_product, live_session, make_live_org


def rooms_listed(page: httpx.Response) -> list[int]:
    assert page.status_code == 200, page.text[:500]
    section = re.search(r'<section class="selling-rooms".*?</section>', page.text, re.S)
    if section is None:
        return []
    return [int(x) for x in re.findall(r'data-session-id="(\d+)"', section.group(0))]


async def _set_state(app: FastAPI, session_id: int, state: SessionState, replay: ReplayState) -> None:
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, session_id)
        assert live is not None
        live.state, live.replay_state = state, replay


async def _product_of(app: FastAPI, sku_id: int) -> int:
    async with app.state.ctx.uow(write=False) as uow:
        sku = await uow.session.get(Sku, sku_id)
        assert sku is not None
        return sku.product_id


async def test_product_page_and_storefront_list_the_rooms_selling_the_product(
    app: FastAPI, live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    anonymous = make_client()
    product_id = await _product_of(app, live_org.inspected_sku)
    live_now = await live_session(live_org)
    upcoming = await live_session(live_org, start=False, title="长白山蓝莓预告")
    replayed = await live_session(live_org, start=False, title="蓝莓回放")
    await _set_state(app, replayed, SessionState.ENDED, ReplayState.READY)
    no_replay = await live_session(live_org, start=False, title="没有回放")
    await _set_state(app, no_replay, SessionState.ENDED, ReplayState.FAILED)
    cancelled = await live_session(live_org, start=False, title="取消了")
    await _set_state(app, cancelled, SessionState.CANCELLED, ReplayState.NONE)

    page = await anonymous.get(f"/p/{product_id}")
    assert rooms_listed(page) == [live_now, upcoming, replayed]  # live first, then upcoming, then replays
    assert f'href="/live/{live_now}"' in page.text
    assert rooms_listed(await anonymous.get(f"/s/{live_org.slug}")) == [live_now, upcoming, replayed]


async def test_a_product_no_room_sells_lists_no_room(
    app: FastAPI, live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    await live_session(live_org)  # sells the inspected product only
    other = await _product_of(app, live_org.uninspected_sku)
    assert rooms_listed(await make_client().get(f"/p/{other}")) == []
    # Another organisation's storefront does not borrow these rooms.
    neighbour = await make_live_org(app, make_client, "neighbour")
    assert rooms_listed(await make_client().get(f"/s/{neighbour.slug}")) == []


async def test_a_room_selling_anothers_goods_is_listed_on_that_product(
    app: FastAPI, live_org: LiveOrg, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    """A room lists any product it holds on its shelf; the product page finds it by the SKU."""
    product = await create_product(
        live_org, "owner", inspected_by="authority_inspector", publish=True, title="靖宇木耳"
    )
    sku = int(product["skus"][0]["id"])
    room = await live_session(
        live_org, shelf=[{"sku_id": sku, "live_price_fen": 5900, "session_stock": 10}], title="木耳专场"
    )
    assert rooms_listed(await make_client().get(f"/p/{product['id']}")) == [room]
    first = await _product_of(app, live_org.inspected_sku)
    assert room not in rooms_listed(await make_client().get(f"/p/{first}"))
