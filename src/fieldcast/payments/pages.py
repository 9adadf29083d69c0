"""Checkout and payment as pages: the cart's and the product page's "check out" form, and the page
that pays a checkout (a QR code of what the provider gave, a button that opens it, the time left,
the orders it pays; it notices the payment arriving by itself)."""

from __future__ import annotations

import io

import segno
from fastapi import APIRouter, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.commerce.addresses import default_address
from fieldcast.commerce.cart import clear_lines
from fieldcast.commerce.checkout import Wanted
from fieldcast.errors import DomainError, NotAuthenticated
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import INT_MAX, Id, parse_int
from fieldcast.payments import actions as a
from fieldcast.payments.models import PaymentState
from fieldcast.payments.routes import Services, notify_url
from fieldcast.web.deps import Uow
from fieldcast.web.forms import read_raw_form, safe_next, see_other
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)


def _wanted(form: dict[str, list[str]]) -> list[Wanted]:
    """The lines of the form: repeated sku_id, quantity and session_id fields, in step."""
    skus, quantities, sessions = form.get("sku_id", []), form.get("quantity", []), form.get("session_id", [])
    lines: list[Wanted] = []
    for index, raw_sku in enumerate(skus):
        raw_quantity = quantities[index] if index < len(quantities) else "1"
        raw_session = (sessions[index] if index < len(sessions) else "").strip()  # "" = not in a room
        sku, quantity = parse_int(raw_sku), parse_int(raw_quantity, low=0, high=INT_MAX)
        session = parse_int(raw_session) if raw_session else None
        if sku is None or quantity is None or (raw_session and session is None):
            raise DomainError(N_("This order form is not valid; please start again from the product."))
        lines.append(Wanted(sku, quantity, session))
    return lines


def qr_svg(url: str) -> str:
    """A QR code of `url` as an SVG data URI (made here: nothing is fetched)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False)
    return "data:image/svg+xml;utf8," + out.getvalue().decode().replace("#", "%23").replace('"', "'")


@pages.post("/checkout")
async def checkout_submit(request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> Response:
    """Order and go to the payment page; a refusal (sold out, over the limit, no address) is
    shown with the way back."""
    raw, _values = await read_raw_form(request)
    back = safe_next(str(raw.get("return") or raw.get("next") or ""), "/cart")
    if user is None:
        return see_other(f"/signin?next={back}")
    form = {key: [str(v) for v in raw.getlist(key)] for key in ("sku_id", "quantity", "session_id")}
    address = str(raw.get("address_id") or "")
    coupon = str(raw.get("coupon_claim_id") or "").strip()  # "" = no coupon
    if not address:  # "Buy now" on a product: the buyer's default address, or make one first
        default = await default_address(uow.session, user.id)
        if default is None:
            return see_other(f"/account/addresses?next={back}")
        address = str(default.id)
    try:
        address_id, coupon_claim_id = parse_int(address), parse_int(coupon) if coupon else None
        if address_id is None:
            raise DomainError(N_("Choose an address to send it to."), field="address_id")
        if coupon and coupon_claim_id is None:
            raise DomainError(N_("Choose one of your coupons."), field="coupon_claim_id")
        wanted = _wanted(form)
        done = await a.checkout(
            uow,
            ctx.gate,
            ctx.payment_provider,
            user,
            wanted,
            address_id,
            pay_minutes=ctx.settings.order_pay_minutes,
            coupon_claim_id=coupon_claim_id,
        )
        await clear_lines(uow, user.id, [w.sku_id for w in wanted])
    except NotAuthenticated:
        raise
    except DomainError as exc:
        await uow.rollback()
        message = gettext(exc.message, **exc.params)
        return render(request, "payments/checkout_failed.html", {"message": message, "back": back}, status_code=422)
    return see_other(f"/pay/{done.payment.id}?return={back}")


@pages.get("/pay/{payment_id:int}")
async def pay_page(payment_id: Id, request: Request, ctx: Services, user: CurrentUser, uow: Uow) -> Response:
    if user is None:
        return see_other(f"/signin?next=/pay/{payment_id}")
    payment = await a.payment_of_buyer(uow, user, payment_id)
    if payment.state == PaymentState.PENDING and not payment.pay_url:
        provider = ctx.payment_provider
        url = notify_url(ctx.settings, request, provider.name)
        payment = await a.open_payment(ctx.uow, provider, user, payment_id, url)
    orders = await a.orders_of_payment(uow, payment_id)
    back = safe_next(request.query_params.get("return"), "/orders")
    return render(
        request,
        "payments/pay.html",
        {
            "payment": payment,
            "orders": orders,
            "qr": qr_svg(payment.pay_url) if payment.pay_url else "",
            "back": back,
        },
    )


@pages.get("/orders/{order_id:int}/pay")
async def order_pay(order_id: Id, uow: Uow, user: CurrentUser) -> Response:
    """From an unpaid order to the payment that pays it (with the other orders of its checkout)."""
    if user is None:
        return see_other(f"/signin?next=/orders/{order_id}/pay")
    payment = await a.payment_of_order(uow, user, order_id)
    return see_other(f"/pay/{payment.id}")


@pages.post("/pay/{payment_id:int}/cancel")
async def pay_cancel(payment_id: Id, request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> Response:
    await read_raw_form(request)
    await a.cancel_payment(uow, ctx.gate, user, payment_id)
    return see_other(f"/pay/{payment_id}")
