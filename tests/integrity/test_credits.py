"""Credits to people (commerce/credits): recorded by an organisation's owners and organisers only,
audited, published through the outbox, over the API once per Idempotency-Key; and judged by
integrity as each arrives, so a credit to an official raises its alert before the show ends."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import HostKind, Organisation, User
from fieldcast.commerce.credits import actions as a
from fieldcast.commerce.credits import schemas as s
from fieldcast.commerce.credits.errors import BadCredit
from fieldcast.commerce.credits.events import CREDIT_RECORDED, TOPIC_CREDIT
from fieldcast.commerce.credits.models import CreditKind, HostCredit
from fieldcast.db.audit import AuditEntry
from fieldcast.db.outbox import OutboxMessage
from fieldcast.errors import NotAllowed, NotAuthenticated
from fieldcast.integrity import rules as r
from fieldcast.integrity.actions import run_rules
from fieldcast.integrity.models import IntegrityAlert, SubjectKind
from fieldcast.live.models import LiveSession, SessionState
from tests.factories import MakeClient, live_session, make_live_org
from tests.integrity.world import World, add_host, world

API = "/api/v1"
ON_BOTH_BACKENDS = True


async def person(app: FastAPI, user_id: int) -> User:
    async with app.state.ctx.uow(write=False) as uow:
        u = await uow.session.get(User, user_id)
        assert u is not None
        return u


async def org(app: FastAPI, w: World) -> Organisation:
    async with app.state.ctx.uow(write=False) as uow:
        o = await uow.session.get(Organisation, w.shop.org_id)
        assert o is not None
        return o


async def record(app: FastAPI, w: World, who: str | None, data: s.CreditIn) -> HostCredit:
    actor = await person(app, w.people[who]) if who else None
    async with app.state.ctx.uow() as uow:
        return await a.record_credit(uow, actor, await org(app, w), data)


async def credits(app: FastAPI) -> list[HostCredit]:
    async with app.state.ctx.uow(write=False) as uow:
        return list((await uow.session.scalars(sa.select(HostCredit).order_by(HostCredit.id))).all())


async def alerts(app: FastAPI) -> list[IntegrityAlert]:
    async with app.state.ctx.uow(write=False) as uow:
        return list((await uow.session.scalars(sa.select(IntegrityAlert).order_by(IntegrityAlert.id))).all())


@pytest.mark.parametrize("who", ["owner", "organiser", "admin"])
async def test_owners_and_organisers_record_a_credit_audited_and_published(app: FastAPI, who: str) -> None:
    w = await world(app)
    data = s.CreditIn(
        user_id=w.people["host"], session_id=w.session_id, kind=CreditKind.COMMISSION, amount_fen=12000, note="佣金5%"
    )
    credit = await record(app, w, who, data)
    (stored,) = await credits(app)
    assert (stored.id, stored.organisation_id, stored.session_id, stored.user_id) == (
        credit.id,
        w.shop.org_id,
        w.session_id,
        w.people["host"],
    )
    assert (stored.kind, stored.amount_fen, stored.note, stored.created_by_id) == (
        CreditKind.COMMISSION,
        12000,
        "佣金5%",
        w.people[who],
    )
    async with app.state.ctx.uow(write=False) as uow:
        (entry,) = (await uow.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "credit.record"))).all()
        (message,) = (
            await uow.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC_CREDIT))
        ).all()
    assert (entry.actor_id, entry.target_id, entry.organisation_id) == (w.people[who], str(credit.id), w.shop.org_id)
    assert entry.details["amount_fen"] == 12000 and entry.details["user_id"] == w.people["host"]
    assert message.event_type == CREDIT_RECORDED and message.payload["credit_id"] == credit.id


@pytest.mark.parametrize("who", ["host", "supplier", "supervisor", "inspector", "outsider", None])
async def test_who_may_not_record_a_credit(app: FastAPI, who: str | None) -> None:
    w = await world(app)
    data = s.CreditIn(user_id=w.people["host"], session_id=w.session_id, kind=CreditKind.GIFT, amount_fen=100)
    with pytest.raises(NotAuthenticated if who is None else NotAllowed):
        await record(app, w, who, data)
    assert await credits(app) == []


async def test_an_owner_of_another_organisation_may_not_record_nor_name_its_show(app: FastAPI) -> None:
    w = await world(app)
    other = await world(app)
    data = s.CreditIn(user_id=w.people["host"], session_id=w.session_id, kind=CreditKind.PAYOUT, amount_fen=500)
    with pytest.raises(NotAllowed):
        await _record_as(app, other, w)
    # Their own organisation's books cannot name this organisation's show.
    with pytest.raises(BadCredit) as refused:
        await record(app, other, "owner", data)
    assert refused.value.field == "session_id"
    assert await credits(app) == []


async def _record_as(app: FastAPI, actor_world: World, w: World) -> HostCredit:
    """The owner of `actor_world`'s organisation tries to write in `w`'s books."""
    data = s.CreditIn(user_id=w.people["host"], kind=CreditKind.PAYOUT, amount_fen=500)
    async with app.state.ctx.uow() as uow:
        return await a.record_credit(uow, await person(app, actor_world.people["owner"]), await org(app, w), data)


async def test_the_api_records_once_per_key_lists_and_refuses(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await world(app)
    url = f"{API}/organisations/{(await org(app, w)).slug}/credits"
    body = {"user_id": w.people["host"], "session_id": w.session_id, "kind": "gift", "amount_fen": 8800, "note": "红包"}
    key = {**w.headers["organiser"], "Idempotency-Key": "credit-1"}
    first = await client.post(url, json=body, headers=key)
    assert first.status_code == 201, first.text
    again = await client.post(url, json=body, headers=key)  # a retry: the first answer, nothing written
    assert again.status_code == 201 and again.json() == first.json()
    got = first.json()
    assert (got["user_id"], got["session_id"], got["kind"], got["amount_fen"], got["note"]) == (
        w.people["host"],
        w.session_id,
        "gift",
        8800,
        "红包",
    )
    assert got["created_by_id"] == w.people["organiser"] and got["organisation_id"] == w.shop.org_id
    assert len(await credits(app)) == 1

    no_show = {**body, "session_id": None, "kind": "payout", "note": ""}
    second = await client.post(url, json=no_show, headers={**w.headers["owner"], "Idempotency-Key": "credit-2"})
    assert second.status_code == 201 and second.json()["session_id"] is None

    listed = await client.get(url, headers=w.headers["owner"])
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [second.json()["id"], got["id"]]
    assert listed.json()["total"] == 2 and listed.json()["items"][0]["user_name"] == "host"

    for who in ("host", "supplier", "outsider"):
        refused = await client.post(url, json=body, headers={**w.headers[who], "Idempotency-Key": f"c-{who}"})
        assert refused.status_code == 403, who
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(url, headers=w.headers[who])).status_code == 403
    assert (await client.post(url, json=body, headers={"Idempotency-Key": "anon"})).status_code == 401
    assert (await client.get(url)).status_code == 401

    for bad, field in (
        ({**body, "amount_fen": 0}, "amount_fen"),
        ({**body, "kind": "bribe"}, "kind"),
        ({**body, "user_id": 999999}, "user_id"),
        ({**body, "session_id": 999999}, "session_id"),
    ):
        problem = await client.post(url, json=bad, headers={**w.headers["owner"], "Idempotency-Key": f"bad-{field}"})
        assert problem.status_code == 422, problem.text
        assert field in problem.text
    assert len(await credits(app)) == 2
    missing = await client.get(f"{API}/organisations/no-such-org/credits", headers=w.headers["admin"])
    assert missing.status_code == 404


# -- integrity hears of each credit as it is recorded ----------------------------------------------


async def test_a_gift_to_an_official_raises_its_alert_when_recorded_not_when_the_show_ends(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:  # the show is on air: it has not ended
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        live.state, live.ended_at = SessionState.LIVE, None
    official = await add_host(app, w, HostKind.OFFICIAL)
    url = f"{API}/organisations/{(await org(app, w)).slug}/credits"
    honest = {"user_id": w.people["host"], "session_id": w.session_id, "kind": "commission", "amount_fen": 3000}
    gift = {"user_id": official, "session_id": w.session_id, "kind": "gift", "amount_fen": 20000, "note": "土特产"}
    for n, body in enumerate((honest, gift)):
        done = await client.post(url, json=body, headers={**w.headers["owner"], "Idempotency-Key": f"k{n}"})
        assert done.status_code == 201, done.text
    gift_id = done.json()["id"]
    assert await alerts(app) == []  # not before the outbox delivers
    await app.state.ctx.relay.drain()
    (alert,) = await alerts(app)
    assert (alert.rule, alert.subject_kind, alert.subject_id, alert.session_id) == (
        r.OFFICIAL_CREDITED,
        SubjectKind.CREDIT,
        gift_id,
        w.session_id,
    )
    assert alert.evidence["credits"] == [{"id": gift_id, "kind": "gift", "amount_fen": 20000, "note": "土特产"}]
    assert alert.evidence["official"]["position_title"] == "副县长"
    # A credit to an official for no show at all is judged too: its alert belongs to the organisation.
    loose = await client.post(
        url,
        json={**gift, "session_id": None, "kind": "payout"},
        headers={**w.headers["owner"], "Idempotency-Key": "k-loose"},
    )
    await app.state.ctx.relay.drain()
    later = (await alerts(app))[-1]
    assert (later.subject_id, later.session_id, later.organisation_id) == (loose.json()["id"], None, w.shop.org_id)
    # The rules running again at the show's end find the gift again and add nothing.
    async with app.state.ctx.uow() as uow:
        assert [x.rule for x in await run_rules(uow, w.session_id)] == [r.OFFICIAL_NOT_WELFARE]


# -- the organisers' page --------------------------------------------------------------------------


async def test_organisers_record_a_payment_from_the_page_and_others_may_not(
    app: FastAPI, make_client: MakeClient
) -> None:
    org = await make_live_org(app, make_client, "creditpage")
    room = await live_session(org, start=False, is_public_welfare=True)
    organiser = org["organiser"]
    assert 'data-testid="org-credits-link"' in (await organiser.get(f"/orgs/{org.slug}")).text
    assert 'data-testid="org-credits-link"' not in (await org["host"].get(f"/orgs/{org.slug}")).text
    # The organisation's reports are linked for those who may read them, and not for its hosts.
    assert 'data-testid="org-report-link"' in (await organiser.get(f"/orgs/{org.slug}")).text
    assert 'data-testid="org-report-link"' not in (await org["host"].get(f"/orgs/{org.slug}")).text
    assert (await organiser.get(f"/reports/organisations/{org.slug}")).status_code == 200
    page = await organiser.get(f"/orgs/{org.slug}/credits")
    assert page.status_code == 200 and 'data-testid="credit-form"' in page.text
    assert f'<option value="{org.ids["official"]}"' in page.text  # its hosts are offered by name

    def form(**values: str) -> dict[str, str]:
        base = {
            "csrf_token": str(organiser.headers["X-CSRF-Token"]),
            "user_id": str(org.ids["official"]),
            "session_id": str(room),
            "kind": "gift",
            "amount_yuan": "200",
            "note": "慰问品",
        }
        return {**base, **values}

    bad = await organiser.post(f"/orgs/{org.slug}/credits", data=form(amount_yuan="两百"))
    assert bad.status_code == 422 and 'data-testid="error-amount_yuan"' in bad.text
    zero = await organiser.post(f"/orgs/{org.slug}/credits", data=form(amount_yuan="0"))
    assert zero.status_code == 422 and 'data-testid="error-amount_yuan"' in zero.text
    done = await organiser.post(f"/orgs/{org.slug}/credits", data=form())
    assert done.status_code == 303, done.text
    (row,) = await credits(app)
    assert (row.user_id, row.session_id, row.kind, row.amount_fen, row.note) == (
        org.ids["official"],
        room,
        CreditKind.GIFT,
        20000,
        "慰问品",
    )
    listed = await organiser.get(f"/orgs/{org.slug}/credits?recorded=1")
    assert 'data-testid="credit-recorded"' in listed.text and 'data-testid="credit"' in listed.text
    await app.state.ctx.relay.drain()
    assert [x.rule for x in await alerts(app)] == [r.OFFICIAL_CREDITED]

    for who in ("host", "supplier", "outsider"):
        assert (await org[who].get(f"/orgs/{org.slug}/credits")).status_code == 403, who
        refused = await org[who].post(
            f"/orgs/{org.slug}/credits", data={**form(), "csrf_token": str(org[who].headers["X-CSRF-Token"])}
        )
        assert refused.status_code == 403, who
    assert len(await credits(app)) == 1
