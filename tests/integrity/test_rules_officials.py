"""The rules of integrity/rules_officials.py, each alone over rows written as the capabilities leave
them: it finds what it is about, with the evidence, and stays quiet on the honest variant next to
it. Then the scenario end to end over HTTP: a viewer's complaint removed by the seller is found as
soon as it is removed; an honest show raises nothing when it ends."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from fieldcast.accounts.models import HostKind, Membership, Role, User
from fieldcast.catalog.models import Product
from fieldcast.chat import actions as chat_actions
from fieldcast.chat.models import ChatMessage
from fieldcast.commerce.credits.models import CreditKind, HostCredit
from fieldcast.commerce.models import OrderLine
from fieldcast.db.base import utcnow
from fieldcast.draws.models import DrawState, DrawWinner, EntryRule, LuckyDraw
from fieldcast.integrity import actions as a
from fieldcast.integrity import rules as r
from fieldcast.integrity import rules_officials as ro
from fieldcast.integrity.ledger import ledger
from fieldcast.integrity.models import IntegrityAlert, Severity, SubjectKind
from fieldcast.live.actions import end_session
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.reviews.models import RemovalGround, Review
from tests.integrity.world import World, add_host, place, show, world

API = "/api/v1"
ON_BOTH_BACKENDS = True
T = r.Thresholds()


async def findings(app: FastAPI, w: World, rule: r.Rule, t: r.Thresholds = T) -> list[r.Finding]:
    live = await show(app, w)
    async with app.state.ctx.uow(write=False) as uow:
        return await rule(uow.session, live, t)


async def credit(app: FastAPI, w: World, user_id: int, kind: CreditKind, amount_fen: int, **kw: object) -> int:
    async with app.state.ctx.uow() as uow:
        row = HostCredit(
            organisation_id=w.shop.org_id,
            session_id=kw.get("session_id", w.session_id),
            user_id=user_id,
            kind=kind,
            amount_fen=amount_fen,
            note=str(kw.get("note", "")),
            created_by_id=w.people["owner"],
        )
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def person(app: FastAPI, user_id: int) -> User:
    async with app.state.ctx.uow(write=False) as uow:
        u = await uow.session.get(User, user_id)
        assert u is not None
        return u


async def say(app: FastAPI, w: World, user_id: int, body: str, *, is_host: bool = False) -> int:
    async with app.state.ctx.uow() as uow:
        message = ChatMessage(session_id=w.session_id, user_id=user_id, body=body, is_host=is_host)
        uow.session.add(message)
        await uow.session.flush()
        return message.id


async def remove(app: FastAPI, w: World, message_id: int, remover_id: int, reason: str) -> None:
    """As chat's moderators remove a comment (the action checks who may)."""
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, w.session_id)
        message = await uow.session.get(ChatMessage, message_id)
        assert live is not None and message is not None
        await chat_actions.delete_message(uow, await person(app, remover_id), live, message, reason)


async def stored(app: FastAPI) -> list[IntegrityAlert]:
    async with app.state.ctx.uow(write=False) as uow:
        return list((await uow.session.scalars(sa.select(IntegrityAlert).order_by(IntegrityAlert.id))).all())


# -- official_credited -------------------------------------------------------------------------------


async def test_any_credit_to_an_official_for_the_show_is_found_with_what_and_to_whom(app: FastAPI) -> None:
    w = await world(app)
    farmer = await add_host(app, w, HostKind.FARMER)
    await credit(app, w, farmer, CreditKind.COMMISSION, 5000)  # a farmer host may earn a commission
    await credit(app, w, w.people["host"], CreditKind.PAYOUT, 20000)  # an unverified host: not an official
    assert await findings(app, w, ro.official_credited) == []
    official = await add_host(app, w, HostKind.OFFICIAL)
    other = await world(app)
    await credit(app, other, official, CreditKind.GIFT, 100)  # another show's: not this show's
    gift = await credit(app, w, official, CreditKind.GIFT, 1, note="一箱蓝莓")  # one fen is still pay
    payout = await credit(app, w, official, CreditKind.PAYOUT, 50000)
    found = await findings(app, w, ro.official_credited)
    assert [(f.rule, f.severity, f.subject_kind, f.subject_id) for f in found] == [
        (ro.OFFICIAL_CREDITED, Severity.HIGH, SubjectKind.CREDIT, gift),
        (ro.OFFICIAL_CREDITED, Severity.HIGH, SubjectKind.CREDIT, payout),
    ]
    assert found[0].evidence == {
        "credit_ids": [gift],
        "credits": [{"id": gift, "kind": "gift", "amount_fen": 1, "note": "一箱蓝莓"}],
        "session_id": w.session_id,
        "official": {"user_id": official, "position_title": "副县长", "jurisdiction": "220622"},
    }


async def test_a_credit_to_an_official_withholds_the_ledgers_no_pay_statement(app: FastAPI) -> None:
    w = await world(app)
    official = await add_host(app, w, HostKind.OFFICIAL)
    async with app.state.ctx.uow() as uow:
        await uow.session.execute(
            sa.update(LiveSession).where(LiveSession.id == w.session_id).values(is_public_welfare=True)
        )
        assert await a.run_rules(uow, w.session_id) == []  # an official in a public-welfare show: fine
    async with app.state.ctx.uow(write=False) as uow:
        assert (await ledger(uow.session, await show(app, w))).officials_took_no_pay
    await credit(app, w, official, CreditKind.GIFT, 30000)
    async with app.state.ctx.uow() as uow:
        (alert,) = await a.run_rules(uow, w.session_id)
    assert alert.rule == ro.OFFICIAL_CREDITED and alert.rule in r.OFFICIALS_RULES
    async with app.state.ctx.uow(write=False) as uow:
        book = await ledger(uow.session, await show(app, w))
    assert book.officials_alert and not book.officials_took_no_pay
    assert book.gmv.flagged_fen == 0  # money paid out is not a sale: no order's money is in doubt


# -- draw_won_by_organisation ---------------------------------------------------------------------------


async def draw(app: FastAPI, w: World, winners: list[int]) -> int:
    async with app.state.ctx.uow() as uow:
        d = LuckyDraw(
            session_id=w.session_id,
            created_by_id=w.people["organiser"],
            prize_title="蓝莓礼盒",
            prize_value_fen=9900,
            winners_count=len(winners),
            entry_rule=EntryRule.PRESENT,
            state=DrawState.DRAWN,
            seed=secrets.token_hex(32),
            drawn_at=utcnow(),
        )
        uow.session.add(d)
        await uow.session.flush()
        for rank, user_id in enumerate(winners, start=1):
            uow.session.add(DrawWinner(draw_id=d.id, user_id=user_id, rank=rank, display_label="王*"))
        return d.id


async def test_a_draw_won_by_the_organisations_own_people_is_found_with_their_roles(app: FastAPI) -> None:
    w = await world(app)
    honest = await draw(app, w, [w.shop.buyers[0], w.people["outsider"]])
    official = await add_host(app, w, HostKind.OFFICIAL)  # hosts the show, holds no role in it
    rigged = await draw(app, w, [w.shop.buyers[1], w.people["supplier"], official])
    (f,) = await findings(app, w, ro.draw_won_by_organisation)
    assert (f.rule, f.subject_kind, f.subject_id) == (ro.DRAW_WON_BY_ORGANISATION, SubjectKind.DRAW, rigged)
    assert honest != rigged
    assert f.evidence["draw_id"] == rigged and f.evidence["winner_ids"] == [w.people["supplier"], official]
    assert f.evidence["winners"] == [
        {"user_id": w.people["supplier"], "rank": 2, "roles": ["supplier"]},
        {"user_id": official, "rank": 3, "roles": [ro.SESSION_HOST]},
    ]


async def test_a_draw_won_by_outsiders_and_a_member_of_another_organisation_is_not_found(app: FastAPI) -> None:
    w = await world(app)
    other = await world(app)
    await draw(app, w, [w.people["outsider"], other.people["owner"], w.shop.buyers[0]])
    assert await findings(app, w, ro.draw_won_by_organisation) == []


# -- claim_in_host_chat --------------------------------------------------------------------------------


async def test_claims_in_the_hosts_chat_and_the_shelfs_texts_are_found_with_the_article(app: FastAPI) -> None:
    w = await world(app)
    await say(app, w, w.people["host"], "蓝莓很甜，大家尝尝", is_host=True)
    await say(app, w, w.shop.buyers[0], "听说全网最低价，能治疗高血压？")  # a viewer's words: not the seller's
    assert await findings(app, w, ro.claim_in_host_chat) == []
    line = await say(app, w, w.people["host"], "全网最低价，吃了能治疗高血压", is_host=True)
    (f,) = await findings(app, w, ro.claim_in_host_chat)
    assert (f.rule, f.subject_kind, f.subject_id) == (ro.CLAIM_IN_HOST_CHAT, SubjectKind.SESSION, w.session_id)
    assert f.evidence["message_ids"] == [line]
    (message,) = f.evidence["messages"]
    assert message["user_id"] == w.people["host"]
    assert message["hits"] == [
        {"term": "全网最低价", "rule": "absolute_term", "article": "《广告法》第九条第三项"},
        {"term": "治疗高血压", "rule": "medical_claim", "article": "《广告法》第十七条"},
    ]
    assert f.evidence["products"] == [] and f.evidence["rules"] == ["absolute_term", "medical_claim"]
    async with app.state.ctx.uow() as uow:  # the shelf's product published with a claim (an override)
        product_id = await uow.session.scalar(sa.select(Product.id).where(Product.organisation_id == w.shop.org_id))
        await uow.session.execute(sa.update(Product).where(Product.id == product_id).values(description="县长推荐"))
    (f,) = await findings(app, w, ro.claim_in_host_chat)
    assert f.evidence["products"] == [
        {
            "product_id": product_id,
            "field": "description",
            "text": "县长推荐",
            "hits": [{"term": "县长推荐", "rule": "state_endorsement", "article": "《广告法》第九条第二项"}],
        }
    ]


# -- negative_removed ----------------------------------------------------------------------------------


async def test_a_negative_comment_removed_by_the_seller_is_found_with_who_and_why(app: FastAPI) -> None:
    w = await world(app)
    viewer = w.shop.buyers[0]
    complaint = await say(app, w, viewer, "收到的蓝莓都坏了，差评")
    await remove(app, w, complaint, w.people["organiser"], "无关内容")
    (f,) = await findings(app, w, ro.negative_removed)
    assert (f.rule, f.severity, f.subject_kind, f.subject_id) == (
        ro.NEGATIVE_REMOVED,
        Severity.HIGH,
        SubjectKind.CHAT_MESSAGE,
        complaint,
    )
    ev = dict(f.evidence)
    assert ev.pop("removed_at")
    assert ev == {
        "message_id": complaint,
        "author_id": viewer,
        "text": "收到的蓝莓都坏了，差评",
        "negative": ["坏了", "差评"],
        "removed_by_id": w.people["organiser"],
        "remover_roles": ["organiser"],
        "reason": "无关内容",
    }


async def test_removals_that_are_not_the_seller_silencing_criticism_are_not_found(app: FastAPI) -> None:
    w = await world(app)
    # The platform's moderation (an admin with no role here) removes an abusive complaint.
    abusive = await say(app, w, w.shop.buyers[0], "假货！卖家全家都是骗子，电话13812341234")
    await remove(app, w, abusive, w.people["admin"], "辱骂他人并公开他人电话")
    # The seller removes a comment that is not negative (an ad).
    await remove(app, w, await say(app, w, w.shop.buyers[1], "加微信买更便宜"), w.people["organiser"], "广告")
    # A negative comment nobody removed; positive comments.
    await say(app, w, w.shop.buyers[2], "上次的太慢了")
    await say(app, w, w.shop.buyers[2], "蓝莓很新鲜，好吃！")
    assert await findings(app, w, ro.negative_removed) == []


async def review(app: FastAPI, w: World, rating: int, body: str, remover: int | None) -> int:
    async with app.state.ctx.uow() as uow:
        order_id = await place(uow, w, w.shop.buyers[0], 6900)
        product_id = await uow.session.scalar(sa.select(Product.id).where(Product.organisation_id == w.shop.org_id))
        assert product_id is not None
        line = OrderLine(
            order_id=order_id,
            sku_id=w.shop.skus[0],
            product_id=product_id,
            title="靖宇蓝莓",
            spec_label="2斤装",
            unit_price_fen=6900,
            quantity=1,
            line_total_fen=6900,
        )
        uow.session.add(line)
        await uow.session.flush()
        row = Review(
            order_line_id=line.id,
            order_id=order_id,
            product_id=product_id,
            organisation_id=w.shop.org_id,
            buyer_id=w.shop.buyers[0],
            spec_label="2斤装",
            rating=rating,
            body=body,
        )
        if remover is not None:
            row.removed_at = utcnow() - timedelta(minutes=5)
            row.removed_by_id = remover
            row.removal_ground = RemovalGround.OTHER_UNLAWFUL
            row.removal_reason = "违规"
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def test_a_low_rated_review_removed_by_a_member_of_the_seller_is_found(app: FastAPI) -> None:
    w = await world(app)
    # Only platform admins remove reviews: one who also holds a role in the seller removes its critics.
    insider = w.people["admin"]
    async with app.state.ctx.uow() as uow:
        uow.session.add(Membership(organisation_id=w.shop.org_id, user_id=insider, role=Role.SUPERVISOR))
    low = await review(app, w, 1, "", insider)
    worded = await review(app, w, 4, "包装还行，就是有几颗烂了", insider)
    await review(app, w, 5, "很好", insider)  # a good review removed: not criticism silenced
    await review(app, w, 3, "一般", insider)  # middling, no negative word: not counted
    await review(app, w, 1, "难吃", None)  # not removed
    found = await findings(app, w, ro.negative_removed)
    assert [(f.subject_kind, f.subject_id) for f in found] == [
        (SubjectKind.REVIEW, low),
        (SubjectKind.REVIEW, worded),
    ]
    assert found[0].evidence["low_rating"] is True and found[0].evidence["remover_roles"] == ["supervisor"]
    assert found[1].evidence["negative"] == ["烂了"] and found[1].evidence["ground"] == "other_unlawful"
    # Counted as low only at or below the threshold.
    assert [f.subject_id for f in await findings(app, w, ro.negative_removed, r.Thresholds(negative_rating_max=1))] == [
        low,
        worded,
    ]
    strict = await findings(app, w, ro.negative_removed, r.Thresholds(negative_rating_max=3))
    assert len(strict) == 3


async def test_a_review_removed_by_the_platforms_moderation_is_not_found(app: FastAPI) -> None:
    w = await world(app)
    await review(app, w, 1, "假货，骗人", w.people["admin"])
    assert await findings(app, w, ro.negative_removed) == []


def test_the_negative_heuristic_matches_complaints_and_not_praise() -> None:
    assert ro.negative_phrases("收到的蓝莓都坏了，差评") == ["坏了", "差评"]
    assert ro.negative_phrases("不 新 鲜") == ["不新鲜"]  # spaces do not hide a phrase
    assert ro.negative_phrases("This is a SCAM") == ["scam"]
    for praise in ("蓝莓很新鲜，好吃！", "主播辛苦了", "已下单，支持家乡", "甜甜的，还会回购"):
        assert ro.negative_phrases(praise) == [], praise


# -- the scenario, end to end ----------------------------------------------------------------------------


async def on_air(app: FastAPI, w: World) -> None:
    async with app.state.ctx.uow() as uow:
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        live.state, live.ended_at, live.started_at = SessionState.LIVE, None, utcnow() - timedelta(minutes=30)


async def end(app: FastAPI, w: World) -> None:
    ctx = app.state.ctx
    async with ctx.uow() as uow:
        live = await uow.session.get(LiveSession, w.session_id)
        assert live is not None
        await end_session(uow, None, live, ctx.media, system=True)
    await ctx.relay.drain()


async def post(client: httpx.AsyncClient, w: World, who: str, body: str) -> int:
    done = await client.post(
        f"{API}/sessions/{w.session_id}/chat",
        json={"body": body},
        headers={**w.headers[who], "Idempotency-Key": secrets.token_hex(8)},
    )
    assert done.status_code == 201, done.text
    return int(done.json()["id"])


async def test_a_complaint_the_seller_deletes_over_the_api_is_flagged_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    w = await world(app)
    await on_air(app, w)
    await post(client, w, "outsider", "蓝莓好甜，已下单")
    complaint = await post(client, w, "outsider", "收到的蓝莓都坏了，差评")
    removed = await client.post(
        f"{API}/chat/{complaint}/remove",
        json={"reason": "影响直播间秩序"},
        headers={**w.headers["organiser"], "Idempotency-Key": "rm-1"},
    )
    assert removed.status_code == 200, removed.text
    assert await stored(app) == []  # not before the outbox delivers the removal
    await app.state.ctx.relay.drain()  # judged while the show is still on
    (alert,) = await stored(app)
    assert alert.rule == ro.NEGATIVE_REMOVED
    await end(app, w)  # and the rules at the end find it again, adding nothing
    (alert,) = await stored(app)
    assert (alert.rule, alert.subject_kind, alert.subject_id, alert.session_id) == (
        ro.NEGATIVE_REMOVED,
        SubjectKind.CHAT_MESSAGE,
        complaint,
        w.session_id,
    )
    assert alert.evidence["reason"] == "影响直播间秩序" and alert.evidence["remover_roles"] == ["organiser"]


async def test_an_honest_show_raises_nothing_when_it_ends(app: FastAPI, client: httpx.AsyncClient) -> None:
    w = await world(app)
    await add_host(app, w, HostKind.FARMER)
    await on_air(app, w)
    await post(client, w, "host", "欢迎大家，今天的蓝莓刚摘的")
    for line in ("蓝莓好甜", "主播辛苦了", "已下单，支持家乡"):
        await post(client, w, "outsider", line)
    await credit(app, w, w.people["host"], CreditKind.COMMISSION, 3000)
    await draw(app, w, [w.people["outsider"]])
    await end(app, w)
    assert await stored(app) == []
