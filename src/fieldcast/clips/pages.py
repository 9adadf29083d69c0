"""Clips as HTML pages: a clip's own page (`/clips/<slug>`: the video with its poster, the product
card with Buy in the room's buy sheet, a share link and its QR code) and a show's clips page for
its operators (`/live/<id>/clips`: the replay player with "set start" / "set end", its "explaining
now" marks to cut around in one click, and every clip with its views, orders and paid GMV).
The forms work without script; static/clips/cutter.js adds the player's buttons."""

from __future__ import annotations

from typing import Any

import segno
from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.catalog import regions
from fieldcast.clips import actions as a
from fieldcast.clips import queries as q
from fieldcast.clips import schemas as s
from fieldcast.clips.models import LENGTH_MAX_S, LENGTH_MIN_S, TITLE_MAX, Clip, ClipState
from fieldcast.clips.routes import Services, clip_or_404
from fieldcast.commerce.addresses import PHONE_INPUT_MAX
from fieldcast.commerce.models import QUANTITY_MAX, RECIPIENT_MAX, STREET_MAX
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.live import queries as live_queries
from fieldcast.live.actions import require_session_operator
from fieldcast.live.models import LiveSession
from fieldcast.live.paths import replay_playlist_url
from fieldcast.live.routes import session_or_404
from fieldcast.session_cookie import SESSION_VIEWER, new_viewer_id
from fieldcast.web.deps import Uow
from fieldcast.web.forms import ACCESS_ERRORS, Form, check_form_csrf, read_raw_form, see_other, submit, validate_into
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)

QR_SCALE = 5
BUY_QUANTITY_MAX = 99
CLIP_FIELDS = ("start_s", "end_s", "mark_id", "sku_id", "title")


def share_url(request: Request, public_url: str, clip: Clip) -> str:
    """The clip's link as shared: on the public URL when one is set."""
    base = public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return base + q.page_path(clip)


def qr_data_uri(url: str) -> str:
    """The QR code as an SVG data: URI (the site's CSP allows images from data:, nothing else)."""
    return str(segno.make(url, error="m").svg_data_uri(scale=QR_SCALE, border=2))


# -- a clip's page ---------------------------------------------------------------------------------


@pages.get("/clips/{key}")
async def clip_page(key: str, request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> Response:
    """Anyone with the link, for a published clip; its operators also while it is cut or hidden."""
    clip = await clip_or_404(uow, key)
    manages = user is not None and await a.may_manage(uow, user, clip)
    if not manages and not q.is_public(clip):
        raise NotFound(N_("No such clip."))
    if user is None and SESSION_VIEWER not in request.session:
        # Tells anonymous viewers apart in the view counts (signed with the session cookie).
        request.session[SESSION_VIEWER] = new_viewer_id()
    live = await live_queries.load_session(uow.session, clip.session_id)
    product = await q.clip_product(uow.session, clip)
    url = share_url(request, ctx.settings.public_url, clip)
    buying = product is not None and product.on_sale and q.is_public(clip)
    return render(
        request,
        "clips/clip.html",
        {
            "user": user,
            "clip": q.clip_out(clip),
            "show": live,
            "product": product,
            "manages": manages,
            "share_url": url,
            "qr": qr_data_uri(url),
            "buying": buying,
            # The buy sheet (live/_buy_sheet.html), as in the room, ordering through the clip.
            "sheet_return_path": q.page_path(clip),
            "sheet_checkout_url": f"/api/v1/clips/{clip.slug}/checkout",
            "sheet_no_cart": True,
            "sheet_off_room": True,
            "sheet_note": gettext(N_("The shop's price. You pay on the next step.")),
            "address_form": Form(),
            "provinces": regions.children(None),
            "address_limits": {"recipient": RECIPIENT_MAX, "phone": PHONE_INPUT_MAX, "street": STREET_MAX},
            "buy_quantity_max": min(BUY_QUANTITY_MAX, QUANTITY_MAX),
        },
    )


# -- a show's clips, for its operators -------------------------------------------------------------


async def _clips_view(
    request: Request,
    uow: UnitOfWork,
    ctx: Services,
    user: CurrentUser,
    live: LiveSession,
    form: Form[Any] | None = None,
    status_code: int = 200,
) -> Response:
    await require_session_operator(uow.session, user, live)
    figures = await q.clip_figures(uow.session, live.id)
    return render(
        request,
        "clips/session_clips.html",
        {
            "user": user,
            "show": live,
            "replay_url": replay_playlist_url(ctx.settings.hls_base_url, live.stream_name),
            "replay_ready": live.replay_duration_s is not None and live.replay_state.value == "ready",
            "marks": await live_queries.marks_of(uow.session, live.id),
            "shelf": await live_queries.shelf_of(uow.session, [live.id]),
            "figures": figures,
            "waiting": any(c.state in (ClipState.PENDING, ClipState.CUTTING) for c in figures.clips),
            "form": form or Form(values={"published": "true"}),
            "limits": {
                "min_s": int(LENGTH_MIN_S),
                "max_s": int(LENGTH_MAX_S),
                "title": TITLE_MAX,
                "lead_s": ctx.settings.clip_lead_s,
                "around_s": ctx.settings.clip_around_length_s,
            },
        },
        status_code=status_code,
    )


@pages.get("/live/{session_id}/clips")
async def session_clips_page(session_id: Id, request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next=/live/{session_id}/clips")
    return await _clips_view(request, uow, ctx, user, await session_or_404(uow, session_id))


def _clip_values(values: dict[str, str]) -> dict[str, object]:
    """The form's text as ClipIn takes it: empty fields are absent, the checkbox a bool."""
    data: dict[str, object] = {k: values[k].strip() for k in CLIP_FIELDS if values.get(k, "").strip()}
    data["published"] = values.get("published") == "true"
    return data


@pages.post("/live/{session_id}/clips")
async def session_clips_submit(
    session_id: Id, request: Request, uow: Uow, ctx: Services, user: CurrentUser
) -> Response:
    """Cut a clip (between two points, or around a mark): back to the list, where it shows as being
    cut until ready; the form again with the message on its field when refused."""
    _raw, values = await read_raw_form(request)
    if user is None:
        return see_other(f"/signin?next=/live/{session_id}/clips")
    live = await session_or_404(uow, session_id)
    form: Form[s.ClipIn] = Form(values=values)
    validate_into(form, s.ClipIn, _clip_values(values))
    data = form.data
    done = data is not None and await submit(
        uow,
        form,
        lambda: a.create_clip(
            uow,
            user,
            live.id,
            data,
            lead_s=ctx.settings.clip_lead_s,
            around_s=ctx.settings.clip_around_length_s,
            wake=ctx.clip_cutter.wake,
        ),
        reraise=ACCESS_ERRORS,
    )
    if done:
        return see_other(f"/live/{live.id}/clips?cut={done.value.id}#clip-{done.value.id}")
    return await _clips_view(request, uow, ctx, user, live, form, status_code=422)


@pages.post("/clips/{key}/publish")
async def clip_publish_submit(key: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    clip = await clip_or_404(uow, key)
    await a.update_clip(uow, user, clip, s.ClipPatch(published=values.get("published") == "true"))
    return see_other(f"/live/{clip.session_id}/clips#clip-{clip.id}")


@pages.post("/clips/{key}/delete")
async def clip_delete_submit(key: str, request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    clip = await clip_or_404(uow, key)
    await a.delete_clip(uow, user, clip, media_dir=ctx.settings.resolved_media_dir)
    return see_other(f"/live/{clip.session_id}/clips")
