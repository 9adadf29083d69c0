"""Room chat: who may post and how much, banned words, hosts' claim warnings, moderation that is
always logged, the public history, mutes, XSS-safe rendering and the events chat publishes.
The API tests run on SQLite and PostgreSQL; the rate limiter on memory and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from fieldcast.accounts.models import Role
from fieldcast.chat.actions import clean_body, normalise_word
from fieldcast.chat.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    make_rate_limiter,
)
from fieldcast.inputs import UnsafeText
from fieldcast.realtime.events import event_model
from tests.conftest import REDIS_URL, QueryCounter, redis_or_skip
from tests.factories import LiveOrg, add_person, live_session, make_live_org
from tests.helpers import room_events, room_last_id

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def org(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> LiveOrg:
    org = await make_live_org(app, make_client, "chatroom")
    await add_person(app, make_client, org, "supervisor", Role.SUPERVISOR, display_name="监督员")
    await add_person(app, make_client, org, "viewer", display_name="观众")
    return org


@pytest.fixture
async def room(org: LiveOrg) -> int:
    return await live_session(org)


async def say(client: httpx.AsyncClient, room: int, body: str) -> httpx.Response:
    return await client.post(f"/api/v1/sessions/{room}/chat", json={"body": body})


async def said(client: httpx.AsyncClient, room: int, body: str) -> dict[str, Any]:
    r = await say(client, room, body)
    assert r.status_code == 201, r.text
    message: dict[str, Any] = r.json()
    return message


def field_of(r: httpx.Response) -> str:
    return str(r.json()["errors"][0]["field"])


# -- posting --------------------------------------------------------------------------------------


async def test_anonymous_cannot_post(room: int, make_client: Callable[[], httpx.AsyncClient]) -> None:
    r = await say(make_client(), room, "你好")
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_signed_in_viewer_posts_and_the_history_has_it(org: LiveOrg, room: int) -> None:
    posted = await said(org["viewer"], room, "  蓝莓甜不甜？\n多少钱一斤  ")
    assert posted["body"] == "蓝莓甜不甜？ 多少钱一斤"
    assert posted["is_host"] is False and posted["warnings"] == []
    assert posted["display_name"] == "观众" and posted["offset_s"] >= 0
    history = (await org["outsider"].get(f"/api/v1/sessions/{room}/chat")).json()
    assert [m["body"] for m in history["items"]] == ["蓝莓甜不甜？ 多少钱一斤"]
    assert history["next_after_id"] is None


@pytest.mark.parametrize("body", ["", "   ", "\u202e\u0007", "字" * 201])
async def test_length_limit_is_explicit_on_the_body_field(org: LiveOrg, room: int, body: str) -> None:
    r = await say(org["viewer"], room, body)
    assert r.status_code == 422, r.text
    assert field_of(r) == "body"


async def test_two_hundred_characters_pass(org: LiveOrg, room: int) -> None:
    assert len((await said(org["viewer"], room, "字" * 200))["body"]) == 200


def test_clean_body_flattens_line_breaks_and_keeps_text() -> None:
    assert clean_body(" a\tb\r\nc ") == "a b  c"
    assert clean_body(XSS) == XSS


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("a\u202eb", "text_bidi_control"),
        ("\u2066x\u2069", "text_bidi_control"),
        ("a\x00b", "text_control_character"),
        ("\u200b\u200b\u200b", "text_invisible"),
        ("\u200b \ufeff\u2060", "text_invisible"),
    ],
)
def test_clean_body_refuses_bidi_controls_nul_and_invisible_only_text(body: str, code: str) -> None:
    with pytest.raises(UnsafeText) as refused:
        clean_body(body)
    assert refused.value.code == code


@pytest.mark.parametrize("body", ["\u200b\u200b\u200b", "看\u202e这里", "a\x00"])
async def test_invisible_or_bidi_chat_lines_are_refused_on_the_body_field(org: LiveOrg, room: int, body: str) -> None:
    r = await say(org["viewer"], room, body)
    assert r.status_code == 422, r.text
    assert field_of(r) == "body"
    history = (await org["outsider"].get(f"/api/v1/sessions/{room}/chat")).json()
    assert history["items"] == []


async def test_viewers_wait_for_the_show_but_the_host_may_warm_up(org: LiveOrg) -> None:
    scheduled = await live_session(org, start=False)
    r = await say(org["viewer"], scheduled, "开始了吗")
    assert r.status_code == 409 and r.json()["code"] == "chat_closed"
    assert (await said(org["host"], scheduled, "大家好，马上开始"))["is_host"] is True
    await org["host"].post(f"/api/v1/sessions/{scheduled}/start")
    await said(org["viewer"], scheduled, "来了")
    r = await org["host"].post(f"/api/v1/sessions/{scheduled}/end")
    assert r.status_code == 200, r.text
    r = await say(org["host"], scheduled, "再见")
    assert r.status_code == 409 and r.json()["code"] == "chat_closed"


# -- rate limit -----------------------------------------------------------------------------------


async def test_sixth_quick_message_is_refused_with_429_per_user(org: LiveOrg, room: int) -> None:
    for n in range(5):
        await said(org["viewer"], room, f"第{n}条")
    r = await say(org["viewer"], room, "第6条")
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "too_many_requests" and problem["errors"][0]["field"] == "body"
    # Another viewer has a bucket of their own; the host answering comments is not limited.
    await said(org["outsider"], room, "我还能说")
    for n in range(7):
        await said(org["host"], room, f"回答第{n}个问题")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LimiterKit = tuple[RateLimiter, Callable[[float], Awaitable[None]]]


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[LimiterKit]:
    """A limiter with a burst of 2 and one token per 0.3 s, and a way to let time pass:
    an injected clock for the in-process one, real time for Redis (whose clock is the server's)."""
    if request.param == "memory":
        clock = Clock()

        async def advance_clock(seconds: float) -> None:
            clock.now += seconds

        memory = MemoryRateLimiter(capacity=2, refill_s=0.3, clock=clock)
        yield memory, advance_clock
        await memory.close()
        return
    await redis_or_skip()

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)

    redis_limiter = RedisRateLimiter(REDIS_URL, capacity=2, refill_s=0.3)
    yield redis_limiter, sleep
    await redis_limiter.close()


def _key(name: str) -> str:
    return f"test:{name}:{id(asyncio.get_running_loop())}:{asyncio.get_running_loop().time()}"


async def test_bucket_allows_a_burst_then_one_per_refill(limiter: LimiterKit) -> None:
    bucket, advance = limiter
    key = _key("burst")
    assert await bucket.take(key) == 0
    assert await bucket.take(key) == 0
    wait = await bucket.take(key)
    assert 0 < wait <= 0.3
    await advance(0.35)
    assert await bucket.take(key) == 0
    assert await bucket.take(key) > 0


async def test_buckets_are_per_key_and_refill_to_capacity_only(limiter: LimiterKit) -> None:
    bucket, advance = limiter
    first, second = _key("a"), _key("b")
    await bucket.take(first)
    await bucket.take(first)
    assert await bucket.take(first) > 0
    assert await bucket.take(second) == 0
    await advance(1.0)  # long enough for more than two tokens: still only a burst of two
    assert [await bucket.take(first) == 0 for _ in range(3)] == [True, True, False]


async def test_make_rate_limiter_picks_the_adapter_from_the_url() -> None:
    assert isinstance(make_rate_limiter(""), MemoryRateLimiter)
    redis_limiter = make_rate_limiter(REDIS_URL)
    assert isinstance(redis_limiter, RedisRateLimiter)
    await redis_limiter.close()


# -- banned words and claims ----------------------------------------------------------------------


async def test_platform_and_organisation_banned_words_refuse_with_the_word(org: LiveOrg, room: int) -> None:
    r = await org["admin"].post("/api/v1/chat/banned-words", json={"word": "刷单"})
    assert r.status_code == 201, r.text
    r = await org["owner"].post("/api/v1/chat/banned-words", json={"word": "ＶＸ", "organisation_id": org.org_id})
    assert r.status_code == 201, r.text
    assert r.json()["word"] == "vx"

    refused = await say(org["viewer"], room, "找我刷 单，便宜")
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "banned_word" and field_of(refused) == "body"
    assert "刷单" in refused.json()["detail"]
    refused = await say(org["viewer"], room, "加我vx聊")
    assert refused.status_code == 422 and "vx" in refused.json()["detail"]
    await said(org["viewer"], room, "蓝莓真好吃")

    # The organisation's list applies to its own sessions only; lists are kept by their owners.
    assert normalise_word(" Ｖ X ") == "vx"
    listed = await org["organiser"].get("/api/v1/chat/banned-words", params={"organisation_id": org.org_id})
    assert [w["word"] for w in listed.json()] == ["vx"]
    for who in ("host", "viewer", "supervisor"):
        r = await org[who].post("/api/v1/chat/banned-words", json={"word": "x", "organisation_id": org.org_id})
        assert r.status_code == 403, (who, r.text)
    assert (await org["owner"].post("/api/v1/chat/banned-words", json={"word": "x"})).status_code == 403
    dup = await org["owner"].post("/api/v1/chat/banned-words", json={"word": "vx", "organisation_id": org.org_id})
    assert dup.status_code == 409
    word_id = listed.json()[0]["id"]
    assert (await org["viewer"].delete(f"/api/v1/chat/banned-words/{word_id}")).status_code == 403
    assert (await org["owner"].delete(f"/api/v1/chat/banned-words/{word_id}")).status_code == 204
    await said(org["viewer"], room, "加我vx聊")


async def test_host_gets_claim_warnings_and_the_message_still_posts(org: LiveOrg, room: int) -> None:
    posted = await said(org["host"], room, "全国最好的蓝莓")
    assert posted["is_host"] is True and posted["body"] == "全国最好的蓝莓"
    assert "最好" in [w["term"] for w in posted["warnings"]]
    assert posted["warnings"][0]["article"]
    viewer = await said(org["viewer"], room, "全国最好的蓝莓")
    assert viewer["warnings"] == []


# -- moderation -----------------------------------------------------------------------------------


async def test_moderator_removes_with_reason_and_the_log_keeps_text_and_time(org: LiveOrg, room: int) -> None:
    message = await said(org["viewer"], room, "上次买的蓝莓一半是烂的，差评")
    url = f"/api/v1/chat/{message['id']}/remove"
    r = await org["supervisor"].post(url, json={"reason": ""})
    assert r.status_code == 422 and field_of(r) == "reason"
    r = await org["supervisor"].post(url, json={"reason": "含辱骂"})
    assert r.status_code == 200, r.text
    assert r.json()["removed"] is True and r.json()["body"] == message["body"]
    assert (await org["host"].post(url, json={"reason": "again"})).status_code == 409

    log = await org["organiser"].get(f"/api/v1/sessions/{room}/moderation-log")
    assert log.status_code == 200, log.text
    [entry] = log.json()
    assert entry["action"] == "chat.remove" and entry["reason"] == "含辱骂"
    assert entry["actor_id"] == org.ids["supervisor"] and entry["at"]
    details = entry["details"]
    assert details["body"] == "上次买的蓝莓一半是烂的，差评"
    assert details["author_id"] == org.ids["viewer"] and details["author_name"] == "观众"
    assert details["posted_at"] and details["removed_at"]

    # The public sees that a comment was removed and why, not its text; moderators see the text.
    public = (await org["outsider"].get(f"/api/v1/sessions/{room}/chat")).json()["items"]
    assert public[0]["removed"] is True and public[0]["body"] is None
    assert public[0]["removal_reason"] == "含辱骂" and public[0]["removed_at"]
    moderated = (await org["host"].get(f"/api/v1/sessions/{room}/chat")).json()["items"]
    assert moderated[0]["body"] == message["body"]


@pytest.mark.parametrize("who", ["viewer", "outsider", "supplier"])
async def test_others_cannot_remove_mute_or_read_the_log(org: LiveOrg, room: int, who: str) -> None:
    message = await said(org["viewer"], room, "不好吃")
    r = await org[who].post(f"/api/v1/chat/{message['id']}/remove", json={"reason": "我不喜欢"})
    assert r.status_code == 403, r.text
    r = await org[who].post(f"/api/v1/sessions/{room}/mutes", json={"user_id": org.ids["owner"], "reason": "x"})
    assert r.status_code == 403, r.text
    assert (await org[who].get(f"/api/v1/sessions/{room}/moderation-log")).status_code == 403


async def test_muted_user_is_refused_until_unmuted(org: LiveOrg, room: int) -> None:
    await said(org["viewer"], room, "第一条")
    url = f"/api/v1/sessions/{room}/mutes"
    r = await org["host"].post(url, json={"user_id": org.ids["viewer"], "reason": "刷屏", "minutes": 10})
    assert r.status_code == 201, r.text
    assert r.json()["until"] is not None
    refused = await say(org["viewer"], room, "第二条")
    assert refused.status_code == 403 and refused.json()["code"] == "chat_muted"
    # A reload keeps the input disabled (issue #15: it came back enabled): the room's /me says so.
    me = f"/api/v1/sessions/{room}/me"
    assert (await org["viewer"].get(me)).json()["muted"] is True
    assert (await org["supervisor"].get(me)).json()["muted"] is False
    listed = await org["supervisor"].get(url)
    assert [m["user_id"] for m in listed.json()] == [org.ids["viewer"]]

    assert (await org["host"].delete(f"{url}/{org.ids['viewer']}")).status_code == 204
    assert (await org["host"].delete(f"{url}/{org.ids['viewer']}")).status_code == 404
    await said(org["viewer"], room, "第三条")
    assert (await org["viewer"].get(me)).json()["muted"] is False
    actions = [e["action"] for e in (await org["host"].get(f"/api/v1/sessions/{room}/moderation-log")).json()]
    assert actions == ["chat.unmute", "chat.mute"]


@pytest.mark.parametrize("target", ["host", "organiser", "supervisor", "admin"])
async def test_hosts_and_moderators_cannot_be_muted(org: LiveOrg, room: int, target: str) -> None:
    target_id = org.ids.get(target)
    if target_id is None:  # the admin signed in through make_admin: read the id back
        target_id = (await org["admin"].get("/api/v1/me")).json()["id"]
    r = await org["owner"].post(f"/api/v1/sessions/{room}/mutes", json={"user_id": target_id, "reason": "x"})
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "cannot_mute_moderator"


async def test_platform_wide_mute_is_for_admins(org: LiveOrg, room: int) -> None:
    body = {"user_id": org.ids["viewer"], "reason": "广告机器人"}
    assert (await org["owner"].post("/api/v1/chat/mutes", json=body)).status_code == 403
    assert (await org["admin"].post("/api/v1/chat/mutes", json=body)).status_code == 201
    assert (await say(org["viewer"], room, "买它")).status_code == 403
    assert (await org["admin"].delete(f"/api/v1/chat/mutes/{org.ids['viewer']}")).status_code == 204
    await said(org["viewer"], room, "买它")


# -- XSS ------------------------------------------------------------------------------------------


async def test_markup_comes_back_as_literal_text_and_is_escaped_in_the_page(org: LiveOrg, room: int) -> None:
    posted = await said(org["viewer"], room, XSS)
    assert posted["body"] == XSS
    history = (await org["outsider"].get(f"/api/v1/sessions/{room}/chat")).json()
    assert history["items"][0]["body"] == XSS
    page = await org["outsider"].get(f"/live/{room}/chat")
    assert page.status_code == 200, page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert XSS not in page.text
    assert 'data-testid="chat-message"' in page.text


# -- events ---------------------------------------------------------------------------------------


async def test_chat_events_match_their_contract_and_carry_no_removed_text(
    app: FastAPI, org: LiveOrg, room: int
) -> None:
    message = await said(org["viewer"], room, "有货吗")
    await org["host"].post(f"/api/v1/chat/{message['id']}/remove", json={"reason": "重复"})
    await org["host"].post(f"/api/v1/sessions/{room}/mutes", json={"user_id": org.ids["viewer"], "reason": "刷屏"})
    await org["host"].delete(f"/api/v1/sessions/{room}/mutes/{org.ids['viewer']}")
    frames = await room_events(app, room)
    chat = [f for f in frames if f["type"].startswith("chat.")]
    assert [f["type"] for f in chat] == ["chat.posted", "chat.removed", "chat.muted", "chat.unmuted"]
    for frame in chat:
        event_model(frame["type"]).model_validate(frame["data"])
    assert chat[0]["data"]["body"] == "有货吗" and chat[0]["data"]["display_name"] == "观众"
    assert "有货吗" not in orjson.dumps(chat[1:]).decode()


async def test_refused_messages_publish_nothing_and_store_nothing(app: FastAPI, org: LiveOrg, room: int) -> None:
    before = await room_last_id(app, room)
    assert (await say(org["viewer"], room, "字" * 201)).status_code == 422
    assert await room_last_id(app, room) == before
    assert (await org["outsider"].get(f"/api/v1/sessions/{room}/chat")).json()["items"] == []


# -- cost -----------------------------------------------------------------------------------------


async def test_posting_costs_a_fixed_number_of_queries(queries: QueryCounter, org: LiveOrg, room: int) -> None:
    """Sending chat is a hot path: its query count must not grow with the history or the lists."""

    async def queries_for(body: str) -> int:
        async with queries.counting() as statements:
            await said(org["viewer"], room, body)
        return len(statements)

    first = await queries_for("一")
    await org["admin"].post("/api/v1/chat/banned-words", json={"word": "刷单"})
    await org["owner"].post("/api/v1/chat/banned-words", json={"word": "返现", "organisation_id": org.org_id})
    await said(org["outsider"], room, "二")
    assert await queries_for("三") == first
    # user, session, the viewer's roles (a viewer with none in the organisation is no operator:
    # the show's hosts are not read), mutes, banned words, the insert, the open keyword draws of
    # the room (commenting a keyword is how viewers enter them), and the event written to the
    # outbox in the same transaction
    assert first == 8, queries.statements
