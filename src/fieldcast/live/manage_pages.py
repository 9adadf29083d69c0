"""Pages for the people who run shows: the host console (go live, keys, pinning, shelf,
co-streams) and the forms that schedule a show, change it and create an event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Organisation, User
from fieldcast.accounts.permissions import require_org_role
from fieldcast.accounts.queries import list_members
from fieldcast.accounts.routes import org_or_404
from fieldcast.catalog import queries as cq
from fieldcast.catalog.images import MAX_IMAGE_BYTES
from fieldcast.catalog.models import Product, ProductStatus, Sku
from fieldcast.catalog.schemas import InspectionBadge
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id, parse_int
from fieldcast.live import actions as a
from fieldcast.live import errors as e
from fieldcast.live import queries as q
from fieldcast.live import schemas as s
from fieldcast.live.models import LiveSession, SessionState
from fieldcast.live.routes import session_or_404
from fieldcast.web.deps import Ctx, Uow
from fieldcast.web.forms import Form, read_raw_form, read_upload, see_other, submit, validate_into
from fieldcast.web.money import BadAmount, parse_yuan
from fieldcast.web.templating import DISPLAY_TZ, render

router = APIRouter(include_in_schema=False)
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def _sign_in_first(request: Request) -> Response:
    return see_other(f"/signin?next={request.url.path}?{request.url.query}".rstrip("?"))


def to_local_input(value: datetime | None, tz: ZoneInfo = DISPLAY_TZ) -> str:
    """A UTC time as the value of a datetime-local input, in Asia/Shanghai."""
    return value.astimezone(tz).strftime(LOCAL_INPUT) if value else ""


def from_local_input(text: str, tz: ZoneInfo = DISPLAY_TZ) -> datetime | None:
    """A datetime-local value (no zone; typed in Asia/Shanghai) as an aware datetime, or None."""
    try:
        naive = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return naive.replace(tzinfo=tz) if naive.tzinfo is None else naive


# -- choices for the forms -------------------------------------------------------------------------


@dataclass(frozen=True)
class SkuChoice:
    sku_id: Id
    product_id: Id
    title: str
    spec_label: str
    price_fen: int
    inspection: InspectionBadge


async def sku_choices(uow: UnitOfWork, org_id: Id) -> list[SkuChoice]:
    """The organisation's published, active SKUs with their inspection badge (what a shelf may hold)."""
    rows = (
        await uow.session.execute(
            sa.select(Sku, Product)
            .join(Product, Product.id == Sku.product_id)
            .where(
                Product.organisation_id == org_id,
                Product.status == ProductStatus.PUBLISHED,
                Sku.is_active.is_(True),
            )
            .order_by(Product.id, Sku.id)
            .limit(500)
        )
    ).all()
    latest = await cq.latest_inspections(uow.session, {p.id for _, p in rows})
    today = cq.today_local()
    return [
        SkuChoice(
            sku.id, product.id, product.title, sku.spec_label, sku.price_fen, cq.badge(latest.get(product.id), today)
        )
        for sku, product in rows
    ]


async def host_choices(uow: UnitOfWork, org_id: Id) -> list[Any]:
    """Members who may host: verified, with the host, owner or organiser role."""
    allowed = {r.value for r in a.HOST_ROLES}
    return [
        m for m in await list_members(uow.session, org_id) if m.badges.verified and allowed & {r.value for r in m.roles}
    ]


async def event_choices(uow: UnitOfWork, org_id: Id) -> list[Any]:
    return [x for x in await q.list_events(uow.session, limit=200) if x.organisation_id == org_id]


# Domain errors name the API's fields; the shelf is one field on the form.
SHELF_FIELDS = {"sku_id": "shelf", "sku_ids": "shelf"}


def _offer_override(form: Form[Any]) -> None:
    """A title the claim checker refused: show the field for a reason to keep it anyway."""
    if isinstance(form.error, e.TitleNeedsOverride):
        form.values["show_override"] = "1"


def _lift_body_error(form: Form[Any]) -> None:
    """Model-level validation errors (no field) become the form's message."""
    message = form.errors.pop("body", None)
    if message and not form.message:
        form.message = message


# -- schedule a show -------------------------------------------------------------------------------


async def _session_form_view(
    request: Request,
    uow: UnitOfWork,
    user: User | None,
    org: Organisation,
    form: Form[Any],
    *,
    chosen_hosts: set[int],
    chosen_skus: set[int],
    live: LiveSession | None = None,
    cover_form: Form[Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "live/session_form.html",
        {
            "user": user,
            "org": org,
            "form": form,
            "live": live,
            "hosts": await host_choices(uow, org.id),
            "events": await event_choices(uow, org.id),
            "skus": [] if live else await sku_choices(uow, org.id),
            "chosen_hosts": chosen_hosts,
            "chosen_skus": chosen_skus,
            "cover_form": cover_form,
        },
        status_code=status_code,
    )


async def _org_from_query(uow: UnitOfWork, request: Request) -> Organisation:
    slug = request.query_params.get("org", "")
    if not slug:
        raise NotFound(N_("No such organisation."))
    return await org_or_404(uow, slug[:64])


def _ids(raw: FormData, name: str) -> list[int]:
    parsed = (parse_int(v) for v in raw.getlist(name) if isinstance(v, str))
    return [v for v in parsed if v is not None]


def _shelf_rows(raw: FormData, values: dict[str, str], errors: dict[str, str]) -> list[dict[str, Any]]:
    """The ticked SKUs with their live price (yuan typed, fen kept) and optional session stock."""
    rows: list[dict[str, Any]] = []
    for sku_id in _ids(raw, "shelf_sku"):
        row: dict[str, Any] = {"sku_id": sku_id, "live_price_fen": None}
        price = values.get(f"price_{sku_id}", "").strip()
        try:
            row["live_price_fen"] = parse_yuan(price) if price else None
        except BadAmount:
            errors[f"price_{sku_id}"] = gettext(BadAmount.message)
        stock = values.get(f"stock_{sku_id}", "").strip()
        if stock:
            row["session_stock"] = stock
        rows.append(row)
    return rows


def _session_values(form: Form[Any], raw: FormData) -> dict[str, Any]:
    when = from_local_input(form.values.get("scheduled_at", ""))
    if when is None:
        form.errors["scheduled_at"] = gettext(N_("Choose a date and time."))
    event = form.values.get("event_id", "")
    return {
        "title": form.values.get("title", ""),
        "description": form.values.get("description", ""),
        "scheduled_at": when,
        "host_ids": _ids(raw, "host_ids"),
        "event_id": int(event) if event.isdigit() else None,
        # Unticked: let the hosts decide (an official host turns it on).
        "is_public_welfare": True if form.values.get("is_public_welfare") else None,
        "title_override_reason": form.values.get("title_override_reason", ""),
    }


@router.get("/live/new")
async def session_new_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    org = await _org_from_query(uow, request)
    await require_org_role(uow.session, user, org.id, *a.MANAGERS)
    form: Form[s.SessionIn] = Form(values={"scheduled_at": ""})
    return await _session_form_view(request, uow, user, org, form, chosen_hosts=set(), chosen_skus=set())


@router.post("/live/new")
async def session_new_submit(request: Request, uow: Uow, user: CurrentUser) -> Response:
    org = await _org_from_query(uow, request)
    raw, values = await read_raw_form(request)
    await require_org_role(uow.session, user, org.id, *a.MANAGERS)
    form: Form[s.SessionIn] = Form(values=values)
    data = _session_values(form, raw)
    shelf = _shelf_rows(raw, form.values, form.errors)
    field_map = {"shelf": "shelf"}
    for i, row in enumerate(shelf):
        field_map[f"shelf.{i}.live_price_fen"] = f"price_{row['sku_id']}"
        field_map[f"shelf.{i}.session_stock"] = f"stock_{row['sku_id']}"
        field_map[f"shelf.{i}.sku_id"] = "shelf"
    validate_into(form, s.SessionIn, {**data, "organisation_id": org.id, "shelf": shelf}, field_map)
    _lift_body_error(form)
    session_in = form.data
    if session_in is not None and not form.errors:
        done = await submit(uow, form, lambda: a.schedule_session(uow, user, session_in), field_map=SHELF_FIELDS)
        if done:
            return see_other(f"/live/{done.value.id}/console?done=scheduled")
        _offer_override(form)
    return await _session_form_view(
        request,
        uow,
        user,
        org,
        form,
        chosen_hosts=set(_ids(raw, "host_ids")),
        chosen_skus=set(_ids(raw, "shelf_sku")),
        status_code=422,
    )


# -- change a show ---------------------------------------------------------------------------------


@router.get("/live/{session_id:int}/edit")
async def session_edit_page(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    live = await session_or_404(uow, session_id)
    await require_org_role(uow.session, user, live.organisation_id, *a.MANAGERS)
    org = await uow.session.get(Organisation, live.organisation_id)
    if org is None:
        raise NotFound(N_("No such organisation."))
    values = {
        "title": live.title,
        "description": live.description,
        "scheduled_at": to_local_input(live.scheduled_at),
        "event_id": str(live.event_id or ""),
        "is_public_welfare": "1" if live.is_public_welfare else "",
        "title_override_reason": live.title_override_reason,
    }
    form: Form[s.SessionPatch] = Form(values=values)
    if live.title_override_reason:
        form.values["show_override"] = "1"
    hosts = set(await a.host_ids_of(uow.session, live.id))
    return await _session_form_view(request, uow, user, org, form, chosen_hosts=hosts, chosen_skus=set(), live=live)


@router.post("/live/{session_id:int}/edit")
async def session_edit_submit(session_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    live = await session_or_404(uow, session_id)
    raw, values = await read_raw_form(request)
    await require_org_role(uow.session, user, live.organisation_id, *a.MANAGERS)
    org = await uow.session.get(Organisation, live.organisation_id)
    if org is None:
        raise NotFound(N_("No such organisation."))
    form: Form[s.SessionPatch] = Form(values=values)
    data = _session_values(form, raw)
    # An unticked box on the edit form means "off" unless an official host forces it on.
    data["is_public_welfare"] = bool(form.values.get("is_public_welfare"))
    if live.state != SessionState.SCHEDULED:
        for key in ("scheduled_at", "host_ids", "event_id"):
            data.pop(key)
        form.errors.pop("scheduled_at", None)
    validate_into(form, s.SessionPatch, data)
    _lift_body_error(form)
    patch = form.data
    if patch is not None and not form.errors:
        if await submit(uow, form, lambda: a.update_session(uow, user, live, patch), field_map=SHELF_FIELDS):
            return see_other(f"/live/{live.id}/console?done=updated")
        _offer_override(form)
    return await _session_form_view(
        request,
        uow,
        user,
        org,
        form,
        chosen_hosts=set(_ids(raw, "host_ids")),
        chosen_skus=set(),
        live=live,
        status_code=422,
    )


@router.post("/live/{session_id:int}/cover")
async def session_cover_submit(session_id: Id, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    """Upload the show's cover picture (shown on cards and as the player's poster)."""
    live = await session_or_404(uow, session_id)
    raw, _values = await read_raw_form(request)
    data = await read_upload(raw, "image", MAX_IMAGE_BYTES) or b""
    form: Form[Any] = Form()
    if await submit(uow, form, lambda: a.set_cover(uow, user, live, data, ctx.settings.resolved_media_dir)):
        return see_other(f"/live/{live.id}/edit")
    org = await uow.session.get(Organisation, live.organisation_id)
    if org is None:
        raise NotFound(N_("No such organisation."))
    hosts = set(await a.host_ids_of(uow.session, live.id))
    status = form.error.status if form.error else 422
    return await _session_form_view(
        request,
        uow,
        user,
        org,
        form,
        chosen_hosts=hosts,
        chosen_skus=set(),
        live=live,
        cover_form=form,
        status_code=status if status in (401, 403) else 422,
    )


# -- events ----------------------------------------------------------------------------------------


async def _event_form_view(
    request: Request, user: User | None, org: Organisation, form: Form[Any], status_code: int = 200
) -> Response:
    return render(request, "live/event_form.html", {"user": user, "org": org, "form": form}, status_code=status_code)


@router.get("/events/new")
async def event_new_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    org = await _org_from_query(uow, request)
    await require_org_role(uow.session, user, org.id, *a.MANAGERS)
    return await _event_form_view(request, user, org, Form())


@router.post("/events/new")
async def event_new_submit(request: Request, uow: Uow, user: CurrentUser) -> Response:
    org = await _org_from_query(uow, request)
    _raw, values = await read_raw_form(request)
    await require_org_role(uow.session, user, org.id, *a.MANAGERS)
    form: Form[s.EventIn] = Form(values=values)
    times = {}
    for name in ("starts_at", "ends_at"):
        times[name] = from_local_input(values.get(name, ""))
        if times[name] is None:
            form.errors[name] = gettext(N_("Choose a date and time."))
    data = {
        "organisation_id": org.id,
        "slug": values.get("slug", ""),
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        **times,
    }
    validate_into(form, s.EventIn, data)
    _lift_body_error(form)
    event_in = form.data
    if (
        event_in is not None
        and not form.errors
        and (done := await submit(uow, form, lambda: a.create_event(uow, user, event_in)))
    ):
        return see_other(f"/events/{done.value.slug}")
    return await _event_form_view(request, user, org, form, status_code=422)
