"""The sandbox provider's pay page, served by this app where WeChat Pay would show its own: the
amount, what it is for, the time left, a QR code of the page, and Confirm. Our own pages may frame
it (the room opens payment in a sheet); no other site may."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.payments import sandbox
from fieldcast.payments.models import SandboxState, SandboxTransaction
from fieldcast.web.context import Services
from fieldcast.web.deps import Ctx, Uow
from fieldcast.web.forms import Form, read_raw_form, safe_next, see_other, submit
from fieldcast.web.middleware import framable_by_site
from fieldcast.web.templating import render

router = APIRouter(include_in_schema=False)

RETURN_FIELD = "return"  # where "Back" leads: a same-site path (the room that opened the sheet)
QR_SCALE = 5


def _page_path(out_trade_no: str, back: str) -> str:
    return f"{sandbox.PAY_PATH}/{out_trade_no}?{urlencode({RETURN_FIELD: back})}"


def _qr_data_uri(url: str) -> str:
    """The QR code as an SVG data: URI (the site's CSP allows images from data:, nothing else)."""
    return str(segno.make(url, error="m").svg_data_uri(scale=QR_SCALE, border=2))


async def _transaction(uow: UnitOfWork, out_trade_no: str) -> SandboxTransaction:
    txn = await sandbox.find_transaction(uow, out_trade_no)
    if txn is None:
        raise NotFound(N_("No such payment."))
    return txn


def _page(
    request: Request,
    ctx: Services,
    txn: SandboxTransaction,
    back: str,
    *,
    message: str = "",
    status_code: int = 200,
) -> Response:
    # The address of this page as the QR code's reader should open it: the site's public URL, or
    # the one this browser used (the provider's pay_url has no request to go by).
    base = ctx.settings.public_url or str(request.base_url)
    response = render(
        request,
        "payments/sandbox_pay.html",
        {
            "txn": txn,
            "states": SandboxState,
            "expired": txn.trade_state == SandboxState.NOTPAY and txn.expires_at <= utcnow(),
            "qr": _qr_data_uri(sandbox.pay_url(base, txn.out_trade_no)),
            "back": back,
            "return_field": RETURN_FIELD,
            "message": message,
            # In the room's buy sheet (a frame): just the payment, without the site's header.
            "bare": request.headers.get("sec-fetch-dest") == "iframe",
        },
        status_code=status_code,
    )
    vary = response.headers.get("vary")
    response.headers["vary"] = f"{vary}, Sec-Fetch-Dest" if vary else "Sec-Fetch-Dest"
    return framable_by_site(response)


@router.get(sandbox.PAY_PATH + "/{out_trade_no}")
async def pay_page(
    out_trade_no: str,
    request: Request,
    uow: Uow,
    ctx: Ctx,
    back: Annotated[str | None, Query(alias=RETURN_FIELD, max_length=500)] = None,
) -> Response:
    return _page(request, ctx, await _transaction(uow, out_trade_no), safe_next(back, "/"))


@router.post(sandbox.PAY_PATH + "/{out_trade_no}/confirm")
async def pay_confirm(out_trade_no: str, request: Request, uow: Uow, ctx: Ctx) -> Response:
    _raw, values = await read_raw_form(request)
    back = safe_next(values.get(RETURN_FIELD), "/")
    quirks = sandbox.DeliveryQuirks.from_settings(ctx.settings)
    form: Form[BaseModel] = Form()
    confirmed = await submit(
        uow,
        form,
        lambda: sandbox.confirm_payment(uow, out_trade_no, now=utcnow(), quirks=quirks),
        reraise=(NotFound,),
    )
    if confirmed:
        return see_other(_page_path(out_trade_no, back))
    status = form.error.status if form.error else 409
    txn = await _transaction(uow, out_trade_no)
    return _page(request, ctx, txn, back, message=form.message, status_code=status)
