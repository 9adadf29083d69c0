"""The host console: go live from the browser, stream keys, start and end, pinning ("explaining
now"), the shelf, co-streams and lucky draws. Every action re-renders the console with the reason on error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import User
from fieldcast.accounts.queries import roles_in_org
from fieldcast.chat import queries as chat_queries
from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.draws import actions as draw_actions
from fieldcast.draws import queries as draw_queries
from fieldcast.draws import schemas as draw_schemas
from fieldcast.draws.models import LuckyDraw
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id, parse_int
from fieldcast.live import actions as a
from fieldcast.live import costreams as co
from fieldcast.live import errors as e
from fieldcast.live import queries as q
from fieldcast.live import schemas as s
from fieldcast.live.keys import obs_stream_key
from fieldcast.live.manage_pages import sku_choices
from fieldcast.live.models import CoStream, LiveSession, ShelfItem
from fieldcast.live.routes import session_or_404
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow
from fieldcast.web.forms import ACCESS_ERRORS, Form, check_form_csrf, read_raw_form, see_other, submit, validate_into
from fieldcast.web.money import BadAmount, parse_yuan
from fieldcast.web.templating import render

router = APIRouter(include_in_schema=False)
CHAT_LINES = 50  # chat lines the cockpit renders; newer ones arrive over the room socket


# -- the host console ------------------------------------------------------------------------------


class ConsoleServices(Protocol):
    """What the console needs of the process (the composition root's context)."""

    settings: Settings
    media: a.MediaControl


def _services(request: Request) -> ConsoleServices:
    ctx: ConsoleServices = context_of(request)
    return ctx


@dataclass
class ConsoleForms:
    """One form per console panel, so an error shows beside the panel that caused it."""

    action: Form[Any]
    shelf: Form[Any]
    invite: Form[Any]
    draw: Form[Any]

    @classmethod
    def empty(cls) -> ConsoleForms:
        return cls(Form(), Form(), Form(), Form())


async def _console_view(
    request: Request,
    uow: UnitOfWork,
    user: User | None,
    live: LiveSession,
    *,
    forms: ConsoleForms | None = None,
    new_key: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    operator = await a.require_session_operator(uow.session, user, live)
    ctx: ConsoleServices = context_of(request)
    hls_base = ctx.settings.hls_base_url
    rtmp_url = ctx.settings.rtmp_public_url or ctx.settings.rtmp_url or None
    detail = await q.session_detail(uow.session, live, hls_base)
    links = await q.costreams_of(uow.session, live.id)
    others = {
        link.invitee_session_id if link.inviter_session_id == live.id else link.inviter_session_id for link in links
    }
    other_lives = [x for x in [await q.load_session(uow.session, i) for i in sorted(others)] if x is not None]
    titles = {x.id: x.title for x in other_lives}
    is_manager = operator.is_platform_admin or bool(
        await roles_in_org(uow.session, operator.id, live.organisation_id) & set(a.MANAGERS)
    )
    on_shelf = {x.sku_id for x in detail.shelf}
    choices = await sku_choices(uow, live.organisation_id) if is_manager and live.state in a.OPEN_STATES else []
    return render(
        request,
        "live/console.html",
        {
            "user": user,
            "live": live,
            "d": detail,
            "forms": forms or ConsoleForms.empty(),
            "new_key": new_key,
            "notice": notice,
            "key_info": await q.stream_key_info(uow.session, live, rtmp_url),
            "rtmp_url": rtmp_url,
            "links": links,
            "titles": titles,
            "is_manager": is_manager,
            "sku_choices": [c for c in choices if c.sku_id not in on_shelf],
            "is_open": live.state in a.OPEN_STATES,
            "draws": await draw_queries.draws_of_session(uow.session, live.id),
            # The cockpit's chat: the last lines, with the moderation tools (every operator of the
            # show moderates its chat: chat.actions.is_moderator).
            "chat_messages": await chat_queries.recent(uow.session, live.id, CHAT_LINES),
        },
        status_code=status_code,
    )


# What the form that led here did, named in the redirect's query (`?done=scheduled`): the console
# shows the translated sentence. Only these keys: the query never carries text of its own.
DONE_NOTICES = {
    "scheduled": N_("The show is scheduled. Its hosts have been notified."),
    "updated": N_("Your changes to the show are saved."),
}


@router.get("/live/{session_id:int}/console")
async def console_page(
    session_id: Id, request: Request, uow: Uow, user: CurrentUser, done: Annotated[str, Query(max_length=16)] = ""
) -> Response:
    if user is None:
        return see_other(f"/signin?next=/live/{session_id}/console")
    notice = gettext(DONE_NOTICES[done]) if done in DONE_NOTICES else None
    return await _console_view(request, uow, user, await session_or_404(uow, session_id), notice=notice)


ConsoleStep = Callable[[LiveSession, dict[str, str], ConsoleForms], Awaitable[None]]


async def _console_post(
    request: Request,
    uow: UnitOfWork,
    user: User | None,
    session_id: Id,
    step: ConsoleStep,
    panel: str = "action",
    field_map: Mapping[str, str] | None = None,
) -> Response:
    """Run one console action; on a domain error show the console again with the reason (422).
    Who may do what is answered by the error page (403/401/404), not by the form."""
    live = await session_or_404(uow, session_id)
    _raw, values = await read_raw_form(request)
    forms = ConsoleForms.empty()
    target: Form[Any] = getattr(forms, panel)
    if not await submit(uow, target, lambda: step(live, values, forms), field_map=field_map, reraise=ACCESS_ERRORS):
        target.values.update(values)
        return await _console_view(request, uow, user, live, forms=forms, status_code=422)
    if target.errors:
        return await _console_view(request, uow, user, live, forms=forms, status_code=422)
    return see_other(f"/live/{live.id}/console")


def _int(values: dict[str, str], name: str) -> int:
    value = parse_int(values.get(name, ""))
    if value is None:
        raise e.ShelfRefused(N_("Choose an item."), field=name)
    return value


@router.post("/live/{session_id:int}/start")
async def console_start(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    async def step(live: LiveSession, _v: dict[str, str], _f: ConsoleForms) -> None:
        await a.start_session(uow, user, live)

    return await _console_post(request, uow, user, session_id, step)


@router.post("/live/{session_id:int}/end")
async def console_end(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    async def step(live: LiveSession, _v: dict[str, str], _f: ConsoleForms) -> None:
        await a.end_session(uow, user, live, _services(request).media)

    return await _console_post(request, uow, user, session_id, step)


@router.post("/live/{session_id:int}/cancel")
async def console_cancel(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    async def step(live: LiveSession, values: dict[str, str], _f: ConsoleForms) -> None:
        await a.cancel_session(uow, user, live, values.get("reason", ""))

    return await _console_post(request, uow, user, session_id, step)


@router.post("/live/{session_id:int}/key")
async def console_new_key(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    """A new stream key, shown on this response only (never in a URL, never again)."""
    live = await session_or_404(uow, session_id)
    await check_form_csrf(request)
    key = await a.issue_stream_key(uow, user, live)
    response = await _console_view(request, uow, user, live, new_key=obs_stream_key(live.stream_name, key))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/live/{session_id:int}/pin")
async def console_pin(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    async def step(live: LiveSession, values: dict[str, str], _f: ConsoleForms) -> None:
        await a.pin_product(uow, user, live, _int(values, "sku_id"))

    return await _console_post(request, uow, user, session_id, step)


@router.post("/live/{session_id:int}/unpin")
async def console_unpin(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    async def step(live: LiveSession, _v: dict[str, str], _f: ConsoleForms) -> None:
        await a.unpin_product(uow, user, live)

    return await _console_post(request, uow, user, session_id, step)


@router.post("/live/{session_id:int}/shelf")
async def console_shelf_add(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    async def step(live: LiveSession, values: dict[str, str], forms: ConsoleForms) -> None:
        form = forms.shelf
        form.values.update(values)
        price = values.get("price_yuan", "").strip()
        fen: int | None = None
        try:
            fen = parse_yuan(price) if price else None
        except BadAmount:
            form.errors["price_yuan"] = gettext(BadAmount.message)
        data = {"sku_id": values.get("sku_id") or None, "live_price_fen": fen}
        if values.get("session_stock", "").strip():
            data["session_stock"] = values["session_stock"].strip()
        validate_into(form, s.ShelfItemIn, data, {"live_price_fen": "price_yuan"})
        if form.data is not None and not form.errors:
            await a.add_shelf_item(uow, user, live, form.data)

    return await _console_post(request, uow, user, session_id, step, panel="shelf")


@router.post("/live/{session_id:int}/shelf/{item_id:int}/remove")
async def console_shelf_remove(
    session_id: Id, item_id: Id, request: Request, uow: Uow, user: CurrentUser
) -> Response:
    async def step(live: LiveSession, _v: dict[str, str], _f: ConsoleForms) -> None:
        item = await uow.session.get(ShelfItem, item_id)
        if item is None or item.session_id != live.id:
            raise NotFound(N_("No such shelf item."))
        await a.remove_shelf_item(uow, user, live, item)

    return await _console_post(request, uow, user, session_id, step, panel="shelf")


@router.post("/live/{session_id:int}/costreams")
async def console_invite(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    async def step(live: LiveSession, values: dict[str, str], forms: ConsoleForms) -> None:
        forms.invite.values.update(values)
        invitee = parse_int(values.get("invitee_session_id", "").strip().removeprefix("#"))
        if invitee is None:
            forms.invite.errors["invitee_session_id"] = gettext(N_("Enter the number of the other room."))
            return
        await co.invite_costream(uow, user, live, invitee)

    return await _console_post(request, uow, user, session_id, step, panel="invite")


async def _link(uow: UnitOfWork, live: LiveSession, link_id: Id) -> CoStream:
    link = await uow.session.get(CoStream, link_id)
    if link is None or live.id not in (link.inviter_session_id, link.invitee_session_id):
        raise NotFound(N_("No such co-stream."))
    return link


@router.post("/live/{session_id:int}/costreams/{link_id:int}/{answer}")
async def console_link_answer(
    session_id: Id, link_id: Id, answer: str, request: Request, uow: Uow, user: CurrentUser
) -> Response:
    if answer not in {"accept", "decline", "end"}:
        raise NotFound(N_("There is nothing at this address."))

    async def step(live: LiveSession, _v: dict[str, str], _f: ConsoleForms) -> None:
        link = await _link(uow, live, link_id)
        if answer == "end":
            await co.end_costream(uow, user, link)
        else:
            await co.answer_costream(uow, user, link, accept=answer == "accept")

    return await _console_post(request, uow, user, session_id, step, panel="invite")


# -- lucky draws -----------------------------------------------------------------------------------

# Form field names that differ from the API's: the value is typed in yuan.
DRAW_FIELDS = {"prize_value_fen": "prize_value_yuan"}


@router.post("/live/{session_id:int}/draws")
async def console_draw_create(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    """Announce a draw from the console: the declared value is typed in yuan (at most 50,000)."""

    async def step(live: LiveSession, values: dict[str, str], forms: ConsoleForms) -> None:
        form = forms.draw
        form.values.update(values)
        raw_value = values.get("prize_value_yuan", "").strip()
        fen: int | None = None
        try:
            fen = parse_yuan(raw_value) if raw_value else None
        except BadAmount:
            form.errors["prize_value_yuan"] = gettext(BadAmount.message)
        data = {
            "prize_title": values.get("prize_title", ""),
            "prize_value_fen": fen,
            "winners_count": values.get("winners_count", "").strip() or None,
            "entry_rule": values.get("entry_rule", ""),
            "keyword": values.get("keyword", ""),
            "terms": values.get("terms", ""),
            "claims_override_reason": values.get("claims_override_reason", ""),
        }
        validate_into(form, draw_schemas.DrawIn, data, DRAW_FIELDS)
        if form.data is None or form.errors:
            return
        await draw_actions.create_draw(uow, user, live, form.data)

    return await _console_post(request, uow, user, session_id, step, panel="draw", field_map=DRAW_FIELDS)


async def _draw(uow: UnitOfWork, live: LiveSession, draw_id: Id) -> LuckyDraw:
    draw = await draw_queries.load_draw(uow.session, draw_id)
    if draw is None or draw.session_id != live.id:
        raise NotFound(N_("No such draw."))
    return draw


@router.post("/live/{session_id:int}/draws/{draw_id:int}/{step_name}")
async def console_draw_step(
    session_id: Id, draw_id: Id, step_name: str, request: Request, uow: Uow, user: CurrentUser
) -> Response:
    """Open entries (optionally for a fixed window), draw the winners, or cancel with a reason."""
    if step_name not in {"open", "draw", "cancel"}:
        raise NotFound(N_("There is nothing at this address."))

    async def step(live: LiveSession, values: dict[str, str], forms: ConsoleForms) -> None:
        draw = await _draw(uow, live, draw_id)
        if step_name == "open":
            form = validate_into(
                forms.draw, draw_schemas.OpenIn, {"duration_s": values.get("duration_s", "").strip() or None}
            )
            if form.data is None or form.errors:
                forms.draw.message = next(iter(form.errors.values()), "")
                return
            await draw_actions.open_draw(uow, user, draw, duration_s=form.data.duration_s)
        elif step_name == "draw":
            await draw_actions.draw_winners(uow, user, draw)
        else:
            forms.draw.values["draw_id"] = str(draw.id)  # which draw's form shows a refused reason
            await draw_actions.cancel_draw(uow, user, draw, values.get("reason", ""))

    return await _console_post(request, uow, user, session_id, step, panel="draw")
