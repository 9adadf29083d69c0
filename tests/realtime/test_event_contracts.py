"""Every room event type has a contract test (Zulip's test_events): each scenario below makes its
events the way people do, through the real API (the actions write them to the outbox, the relay
hands them to the room log), and every frame read back must match the model registered for its
type, with no field the model lacks and no value of another type. A new event type that no
scenario produces fails test_every_event_type_has_a_contract_test."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.bootstrap import register_events
from fieldcast.db.base import utcnow
from fieldcast.payments.models import SandboxState, SandboxTransaction
from fieldcast.payments.sandbox import notification_body, sandbox_secret, signed_headers
from fieldcast.realtime.events import REGISTRY
from tests.factories import (
    LiveOrg,
    MakeClient,
    add_person,
    create_draw,
    live_session,
    make_live_org,
    viewers,
)
from tests.helpers import matches_contract, room_events, validate

register_events()

Scenario = Callable[[FastAPI, MakeClient], Awaitable[list[dict[str, Any]]]]
# scenario name -> (the event types it must produce, the scenario)
SCENARIOS: dict[str, tuple[frozenset[str], Scenario]] = {}


def produces(*event_types: str) -> Callable[[Scenario], Scenario]:
    """Register a scenario that returns the frames it caused, among them each of `event_types`."""

    def register(scenario: Scenario) -> Scenario:
        SCENARIOS[scenario.__name__] = (frozenset(event_types), scenario)
        return scenario

    return register


async def ok(response: Awaitable[Any], status: int = 200) -> Any:
    r = await response
    assert r.status_code == status, r.text
    return r.json() if r.content else None


@produces("session.state", "session.pinned", "shelf.changed", "costream.changed")
async def live_room(app: FastAPI, make_client: MakeClient) -> list[dict[str, Any]]:
    """Start, pin and unpin, add, reprice and remove a shelf item, invite, accept and end a
    co-stream, end one show and cancel another."""
    org = await make_live_org(app, make_client, "contracts")
    host, organiser = org["host"], org["organiser"]
    room = await live_session(org)
    partner = await live_session(org, start=False)
    await ok(host.post(f"/api/v1/sessions/{room}/pin", json={"sku_id": org.inspected_sku}), 201)
    await ok(host.delete(f"/api/v1/sessions/{room}/pin"), 204)
    shelf = f"/api/v1/sessions/{room}/shelf"
    item = await ok(organiser.post(shelf, json={"sku_id": org.uninspected_sku, "live_price_fen": 1900}), 201)
    await ok(organiser.patch(f"{shelf}/{item['id']}", json={"live_price_fen": 1500}))
    await ok(organiser.delete(f"{shelf}/{item['id']}"), 204)
    link = await ok(host.post(f"/api/v1/sessions/{room}/co-streams", json={"invitee_session_id": partner}), 201)
    await ok(host.post(f"/api/v1/co-streams/{link['id']}/accept"))
    await ok(host.post(f"/api/v1/co-streams/{link['id']}/end"))
    await ok(host.post(f"/api/v1/sessions/{room}/end"))
    await ok(organiser.post(f"/api/v1/sessions/{partner}/cancel", json={"reason": "暴雨"}))
    return await room_events(app, room) + await room_events(app, partner)


@produces("chat.posted", "chat.removed", "chat.muted", "chat.unmuted")
async def chat(app: FastAPI, make_client: MakeClient) -> list[dict[str, Any]]:
    """A viewer comments; the host removes the comment, mutes the viewer and lifts the mute."""
    org = await make_live_org(app, make_client, "contracts")
    viewer = await add_person(app, make_client, org, "viewer", display_name="观众")
    room = await live_session(org)
    message = await ok(viewer.post(f"/api/v1/sessions/{room}/chat", json={"body": "有货吗"}), 201)
    await ok(org["host"].post(f"/api/v1/chat/{message['id']}/remove", json={"reason": "重复"}))
    mute = {"user_id": org.ids["viewer"], "reason": "刷屏", "minutes": 10}
    await ok(org["host"].post(f"/api/v1/sessions/{room}/mutes", json=mute), 201)
    await ok(org["host"].delete(f"/api/v1/sessions/{room}/mutes/{org.ids['viewer']}"), 204)
    return await room_events(app, room)


@produces("draw.announced", "draw.opened", "draw.drawn", "draw.cancelled")
async def lucky_draws(app: FastAPI, make_client: MakeClient) -> list[dict[str, Any]]:
    """One draw is announced, opened, entered and drawn; another is opened and cancelled."""
    org = await make_live_org(app, make_client, "contracts")
    room = await live_session(org)
    drawn, cancelled = await create_draw(org, room), await create_draw(org, room)
    (viewer,) = await viewers(make_client, 1)
    for draw in (drawn, cancelled):
        await ok(org["host"].post(f"/api/v1/draws/{draw['id']}/open"))
    await ok(viewer.post(f"/api/v1/draws/{drawn['id']}/enter"))
    await ok(org["host"].post(f"/api/v1/draws/{drawn['id']}/draw"))
    await ok(org["host"].post(f"/api/v1/draws/{cancelled['id']}/cancel", json={"reason": "主持人口误"}))
    return await room_events(app, room)


@produces("room.counters")
async def counters(app: FastAPI, make_client: MakeClient) -> list[dict[str, Any]]:
    """The hub's totals frame, sent to a room's sockets on its tick (never kept in the room log)."""
    org: LiveOrg = await make_live_org(app, make_client, "contracts")
    room = await live_session(org)
    hub = app.state.ctx.room_hub
    listener = await hub.join(room)
    try:
        hub.react(room, likes=3, flowers=1)
        await hub.tick()
        while True:
            message = orjson.loads((await asyncio.wait_for(listener.queue.get(), timeout=10)).text)
            sent = message if isinstance(message, list) else [message]
            totals = [frame for frame in sent if frame["type"] == "room.counters"]
            if totals:
                break
    finally:
        hub.leave(room, listener)
    for frame in totals:
        assert set(frame) == {"type", "room", "data"}, frame  # volatile: no id, not resumed
        assert frame["room"] == room
    return totals


@produces("shelf.stock", "room.purchase")
async def buying(app: FastAPI, make_client: MakeClient) -> list[dict[str, Any]]:
    """A viewer buys from the room's shelf and pays through the provider (its signed notification
    to the notify endpoint); another buys the rest and gives the checkout up."""
    org = await make_live_org(app, make_client, "contracts")
    room = await live_session(org)  # its shelf: the inspected SKU, 50 set aside for the show
    buyer, other = await viewers(make_client, 2)
    for client in (buyer, other):
        body = {"recipient": "王小明", "phone": "13812341234", "region_code": "420527", "street": "江边路1号"}
        await ok(client.post("/api/v1/me/addresses", json=body), 201)
    addresses = [(await ok(c.get("/api/v1/me/addresses")))[0]["id"] for c in (buyer, other)]
    line = {"sku_id": org.inspected_sku, "quantity": 2, "session_id": room}
    paying = await ok(buyer.post("/api/v1/checkout", json={"items": [line], "address_id": addresses[0]}), 201)
    opened = await ok(buyer.post(f"/api/v1/payments/{paying['id']}/open"))
    out_trade_no = opened["pay_url"].rsplit("/", 1)[1]
    async with app.state.ctx.uow() as uow:  # the buyer pays at the provider, which then notifies
        txn = await uow.session.scalar(
            sa.select(SandboxTransaction).where(SandboxTransaction.out_trade_no == out_trade_no)
        )
        assert txn is not None
        txn.trade_state, txn.paid_at = SandboxState.SUCCESS, utcnow()
        raw = orjson.dumps(notification_body(txn, "contract-1"))
    headers = signed_headers(sandbox_secret(app.state.ctx.settings), raw)
    await ok(other.post("/api/v1/payments/notify/sandbox", content=raw, headers=headers))
    giving_up = await ok(
        other.post("/api/v1/checkout", json={"items": [{**line, "quantity": 3}], "address_id": addresses[1]}), 201
    )
    await ok(other.post(f"/api/v1/payments/{giving_up['id']}/cancel"))
    return await room_events(app, room)


@produces("coupon.left")
async def coupons(app: FastAPI, make_client: MakeClient) -> list[dict[str, Any]]:
    """The organiser hands out two coupons in the live room; two viewers claim them."""
    org = await make_live_org(app, make_client, "coupons")
    room = await live_session(org)
    ends = (utcnow() + timedelta(hours=1)).isoformat()
    body = {"title": "满50减10", "kind": "threshold", "amount_off_fen": 1000, "min_spend_fen": 5000}
    body |= {"scope": "session", "session_id": room, "total": 2, "claim_ends_at": ends}
    batch = await ok(org["organiser"].post(f"/api/v1/organisations/{org.slug}/coupons", json=body), 201)
    for client in await viewers(make_client, 2):
        await ok(client.post(f"/api/v1/coupons/{batch['id']}/claim"), 201)
    frames = await room_events(app, room)
    assert [f["data"]["left"] for f in frames if f["type"] == "coupon.left"] == [2, 1, 0]
    return frames


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_events_match_their_contract(app: FastAPI, make_client: MakeClient, name: str) -> None:
    expected, scenario = SCENARIOS[name]
    frames = await scenario(app, make_client)
    assert expected <= {frame["type"] for frame in frames}, [frame["type"] for frame in frames]
    for frame in frames:
        if frame["type"] == "room.counters":
            matches_contract(frame["type"], frame["data"])
        else:
            validate(frame)


def test_every_event_type_has_a_contract_test() -> None:
    covered = frozenset().union(*(types for types, _ in SCENARIOS.values()))
    assert covered == set(REGISTRY), {
        "registered but produced by no scenario": sorted(set(REGISTRY) - covered),
        "produced by a scenario but not registered": sorted(covered - set(REGISTRY)),
    }
    for event_type, model in REGISTRY.items():
        assert model.model_config.get("extra") == "forbid", event_type
