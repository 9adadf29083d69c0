"""Alerts: stored once per rule and subject however often the rules run, decided (acknowledged
with a note, or a false alarm with a reason) only by platform admins and the organisation's owners,
organisers and supervisors, each decision audited and nothing deleted; over the API with an
Idempotency-Key and problem+json errors. And the rules run by themselves when a show ends."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import Membership, Role, User
from fieldcast.db.audit import AuditEntry
from fieldcast.db.base import utcnow
from fieldcast.db.outbox import Envelope, OutboxMessage
from fieldcast.errors import NotAllowed, NotAuthenticated
from fieldcast.integrity import actions as a
from fieldcast.integrity import errors as e
from fieldcast.integrity import rules as r
from fieldcast.integrity.models import AlertState, IntegrityAlert
from fieldcast.integrity.tasks import RERUN, TOPIC_INTEGRITY, session_endings
from fieldcast.live.events import SESSION_ENDED
from fieldcast.live.models import LiveSession, SessionState
from tests.integrity.world import World, place, refund_asked, world

API = "/api/v1"
ON_BOTH_BACKENDS = True


async def member_orders(app: FastAPI, w: World) -> list[int]:
    async with app.state.ctx.uow() as uow:
        return [await place(uow, w, w.people["host"], 6900), await place(uow, w, w.people["owner"], 6900)]


async def run(app: FastAPI, w: World) -> list[IntegrityAlert]:
    async with app.state.ctx.uow() as uow:
        return await a.run_rules(uow, w.session_id)


async def stored(app: FastAPI) -> list[IntegrityAlert]:
    async with app.state.ctx.uow(write=False) as uow:
        return list((await uow.session.scalars(sa.select(IntegrityAlert).order_by(IntegrityAlert.id))).all())


async def person(app: FastAPI, user_id: int) -> User:
    async with app.state.ctx.uow(write=False) as uow:
        u = await uow.session.get(User, user_id)
        assert u is not None
        return u


async def test_running_the_rules_again_adds_nothing_and_keeps_decisions(app: FastAPI) -> None:
    w = await world(app)
    orders = await member_orders(app, w)
    first = await run(app, w)
    assert sorted((x.rule, x.subject_id) for x in first) == sorted((r.MEMBER_BUYER, o) for o in orders)
    assert all(x.state == AlertState.OPEN and x.session_id == w.session_id for x in first)
    async with app.state.ctx.uow() as uow:
        await a.mark_false_alarm(uow, await person(app, w.people["owner"]), first[0].id, "主播自购试吃")
    assert await run(app, w) == []  # found again: nothing new, and the false alarm stays one
    alerts = await stored(app)
    assert len(alerts) == 2
    assert alerts[0].state == AlertState.FALSE_ALARM and alerts[0].decision_note == "主播自购试吃"
    # A new finding of the same rule about another subject is a new alert.
    async with app.state.ctx.uow() as uow:
        third = await place(uow, w, w.people["supervisor"], 100)
    assert [x.subject_id for x in await run(app, w)] == [third]


async def test_the_database_refuses_a_second_alert_of_a_rule_about_one_subject(app: FastAPI) -> None:
    w = await world(app)
    assert await run(app, w) == []  # an empty show: no finding
    await member_orders(app, w)
    alert = (await run(app, w))[0]
    with pytest.raises(sa.exc.IntegrityError):
        async with app.state.ctx.uow() as uow:
            uow.session.add(
                IntegrityAlert(
                    rule=alert.rule,
                    severity=alert.severity,
                    subject_kind=alert.subject_kind,
                    subject_id=alert.subject_id,
                    organisation_id=alert.organisation_id,
                )
            )


@pytest.mark.parametrize("who", ["owner", "organiser", "supervisor", "admin"])
async def test_deciders_acknowledge_and_mark_false_alarms_audited(app: FastAPI, who: str) -> None:
    w = await world(app)
    await member_orders(app, w)
    one, two = await run(app, w)
    actor = await person(app, w.people[who])
    async with app.state.ctx.uow() as uow:
        done = await a.acknowledge(uow, actor, one.id, "已核实，是店内员工试吃")
    assert (done.state, done.decided_by_id, done.decision_note) == (
        AlertState.ACKNOWLEDGED,
        actor.id,
        "已核实，是店内员工试吃",
    )
    assert done.decided_at is not None
    async with app.state.ctx.uow() as uow:
        await a.mark_false_alarm(uow, actor, one.id, "员工按原价自费购买")  # acknowledged, then wrong after all
        await a.mark_false_alarm(uow, actor, two.id, "同上")
    with pytest.raises(e.WrongAlertState):
        async with app.state.ctx.uow() as uow:
            await a.acknowledge(uow, actor, one.id, "again")
    with pytest.raises(e.WrongAlertState):
        async with app.state.ctx.uow() as uow:
            await a.mark_false_alarm(uow, actor, one.id, "again")
    async with app.state.ctx.uow(write=False) as uow:
        audit = (
            await uow.session.execute(
                sa.select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.target_id, AuditEntry.reason)
                .where(AuditEntry.action.like("integrity.alert_%"), AuditEntry.actor_id.is_not(None))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [tuple(x) for x in audit] == [
        ("integrity.alert_acknowledge", actor.id, str(one.id), "已核实，是店内员工试吃"),
        ("integrity.alert_false_alarm", actor.id, str(one.id), "员工按原价自费购买"),
        ("integrity.alert_false_alarm", actor.id, str(two.id), "同上"),
    ]
    assert len(await stored(app)) == 2  # nothing deleted


@pytest.mark.parametrize("who", ["host", "supplier", "inspector", "outsider"])
async def test_who_may_not_decide(app: FastAPI, who: str) -> None:
    w = await world(app)
    await member_orders(app, w)
    alert = (await run(app, w))[0]
    with pytest.raises(NotAllowed):
        async with app.state.ctx.uow() as uow:
            await a.acknowledge(uow, await person(app, w.people[who]), alert.id, "我看过了")
    with pytest.raises(NotAllowed):
        async with app.state.ctx.uow() as uow:
            await a.mark_false_alarm(uow, await person(app, w.people[who]), alert.id, "不是问题")
    with pytest.raises(NotAuthenticated):
        async with app.state.ctx.uow() as uow:
            await a.acknowledge(uow, None, alert.id, "anonymous")
    assert (await stored(app))[0].state == AlertState.OPEN


async def test_a_supervisor_of_another_organisation_may_not_decide(app: FastAPI) -> None:
    w = await world(app)
    other = await world(app)
    await member_orders(app, w)
    alert = (await run(app, w))[0]
    with pytest.raises(NotAllowed):
        async with app.state.ctx.uow() as uow:
            await a.acknowledge(uow, await person(app, other.people["supervisor"]), alert.id, "看过")
    async with app.state.ctx.uow() as uow:  # given the role in this organisation, they may
        uow.session.add(
            Membership(organisation_id=w.shop.org_id, user_id=other.people["supervisor"], role=Role.SUPERVISOR)
        )
    async with app.state.ctx.uow() as uow:
        await a.acknowledge(uow, await person(app, other.people["supervisor"]), alert.id, "看过")


# -- over HTTP -------------------------------------------------------------------------------------


async def test_the_api_lists_decides_once_per_key_and_refuses_others(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await world(app)
    await member_orders(app, w)
    await run(app, w)
    listed = await client.get(f"{API}/sessions/{w.session_id}/alerts", headers=w.headers["supervisor"])
    assert listed.status_code == 200, listed.text
    one, two = listed.json()
    assert (one["rule"], one["subject_kind"], one["state"]) == (r.MEMBER_BUYER, "order", "open")
    assert one["evidence"]["roles"] == ["host"]
    for who in ("host", "supplier", "outsider"):
        refused = await client.get(f"{API}/sessions/{w.session_id}/alerts", headers=w.headers[who])
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"{API}/sessions/{w.session_id}/alerts")).status_code == 401

    url = f"{API}/alerts/{one['id']}/acknowledge"
    key = {**w.headers["organiser"], "Idempotency-Key": "ack-1"}
    for _ in range(2):  # a retry with the same key gets the first answer, not a wrong-state refusal
        done = await client.post(url, json={"note": "已核实"}, headers=key)
        assert (done.status_code, done.json()["state"], done.json()["decision_note"]) == (200, "acknowledged", "已核实")
    async with app.state.ctx.uow(write=False) as uow:
        acks = await uow.session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "integrity.alert_acknowledge")
        )
    assert acks == 1
    again = await client.post(
        url, json={"note": "又一次"}, headers={**w.headers["organiser"], "Idempotency-Key": "ack-2"}
    )
    assert again.status_code == 409 and again.json()["code"] == "wrong_alert_state"

    empty = await client.post(
        f"{API}/alerts/{two['id']}/false-alarm",
        json={"reason": "  "},
        headers={**w.headers["owner"], "Idempotency-Key": "f-0"},
    )
    assert empty.status_code == 422 and "reason" in empty.text
    assert empty.headers["content-type"].startswith("application/problem+json")
    refused = await client.post(
        f"{API}/alerts/{two['id']}/false-alarm",
        json={"reason": "不是"},
        headers={**w.headers["host"], "Idempotency-Key": "f-1"},
    )
    assert refused.status_code == 403
    marked = await client.post(
        f"{API}/alerts/{two['id']}/false-alarm",
        json={"reason": "员工自费"},
        headers={**w.headers["owner"], "Idempotency-Key": "f-2"},
    )
    assert (marked.status_code, marked.json()["state"]) == (200, "false_alarm")
    missing = await client.post(
        f"{API}/alerts/999999/acknowledge", json={"note": "x"}, headers={**w.headers["admin"], "Idempotency-Key": "m-1"}
    )
    assert missing.status_code == 404


# -- when a show ends ------------------------------------------------------------------------------


async def test_the_rules_run_when_a_show_ends(app: FastAPI) -> None:
    w = await world(app)
    await member_orders(app, w)
    ctx = app.state.ctx
    async with ctx.uow() as uow:  # back on air, then ended by its operator through live's action
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        live.state, live.ended_at = SessionState.LIVE, None
    from fieldcast.live.actions import end_session

    async with ctx.uow() as uow:
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        await end_session(uow, None, live, ctx.media, system=True)
    assert await stored(app) == []  # not before the outbox delivers the end
    await ctx.relay.drain()
    assert sorted(x.rule for x in await stored(app)) == [r.MEMBER_BUYER, r.MEMBER_BUYER]


async def test_the_rules_run_again_when_the_refund_window_has_passed(app: FastAPI) -> None:
    w = await world(app, buyers=6)
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        orders = [await place(uow, w, b, 6900) for b in w.shop.buyers]
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        live.state, live.ended_at = SessionState.LIVE, None
    from fieldcast.live.actions import end_session

    async with ctx.uow() as uow:
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        await end_session(uow, None, live, ctx.media, system=True)
        ended_at = live.ended_at
    assert ended_at is not None
    await ctx.relay.drain()
    assert await stored(app) == []  # an honest show at its end
    async with ctx.uow(write=False) as uow:
        (rerun,) = (
            await uow.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_INTEGRITY))
        ).all()
    assert rerun.published_at is None  # it waits for the refund window
    assert rerun.available_at == ended_at + timedelta(days=ctx.settings.integrity_refund_window_days)

    async with ctx.uow() as uow:  # the refund wave within the week, then the week passes
        for order_id in orders[:3]:
            await refund_asked(uow, w, order_id, ended_at + timedelta(days=2))
        await uow.session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id == rerun.id).values(available_at=utcnow())
        )
    await ctx.relay.drain()
    (alert,) = await stored(app)
    assert alert.rule == r.REFUNDS_AFTER_SHOW and alert.evidence["refunded_orders"] == sorted(orders[:3])


async def test_a_message_about_a_show_that_is_gone_is_dropped_not_retried(app: FastAPI) -> None:
    deliver = session_endings(app.state.ctx.uow, r.Thresholds())
    for event_type in (SESSION_ENDED, RERUN):
        await deliver(
            Envelope(
                1,
                TOPIC_INTEGRITY,
                "999999",
                event_type,
                {"session_id": 999999, "ended_at": utcnow().isoformat()},
                utcnow(),
            )
        )
    assert await stored(app) == []
