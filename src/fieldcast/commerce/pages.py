"""Commerce as HTML pages: the buyer's addresses, cart and orders; an organisation's orders to
ship; a live room's orders and sales per host. Forms post here and answer 303, or show the form
again with the message on the field at fault (422)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import User
from fieldcast.accounts.routes import org_or_404
from fieldcast.catalog import regions
from fieldcast.commerce import addresses as addr
from fieldcast.commerce import cart, fulfilment_queries
from fieldcast.commerce import orders as order_actions
from fieldcast.commerce import queries as q
from fieldcast.commerce import schemas as s
from fieldcast.commerce.checkout import Wanted, coupon_quote
from fieldcast.commerce.coupons.schemas import QuoteOut
from fieldcast.commerce.models import QUANTITY_MAX, RECIPIENT_MAX, STREET_MAX, OrderState
from fieldcast.commerce.routes import Services, live_session_or_404
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import DomainError
from fieldcast.inputs import Id
from fieldcast.web.api import Offset
from fieldcast.web.deps import Uow
from fieldcast.web.forms import (
    ACCESS_ERRORS,
    Form,
    check_form_csrf,
    read_form,
    read_raw_form,
    safe_next,
    see_other,
    submit,
    validate_into,
)
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
SESSION_PAGE_SIZE = 50
ADDRESSES = "/account/addresses"
NextPath = Annotated[str | None, Query(alias="next", max_length=200)]
StateParam = Annotated[str | None, Query(max_length=20)]


def _sign_in_first(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return see_other(f"/signin?next={safe_next(target, '/')}")


def _state(value: str | None) -> OrderState | None:
    return OrderState(value) if value in {x.value for x in OrderState} else None


# -- addresses ------------------------------------------------------------------------------------


def _address_limits() -> dict[str, Any]:
    return {"recipient_max": RECIPIENT_MAX, "street_max": STREET_MAX, "phone_max": addr.PHONE_INPUT_MAX}


async def _addresses_view(
    request: Request,
    uow: UnitOfWork,
    user: User,
    *,
    form: Form[Any] | None = None,
    next_path: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "commerce/addresses.html",
        {
            "user": user,
            "addresses": [addr.address_out(a) for a in await addr.list_addresses(uow.session, user.id)],
            "form": form or Form(),
            "provinces": regions.children(None),
            "next": safe_next(next_path, ""),
            **_address_limits(),
        },
        status_code=status_code,
    )


@pages.get(ADDRESSES)
async def addresses_page(request: Request, uow: Uow, user: CurrentUser, next_path: NextPath = None) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _addresses_view(request, uow, user, next_path=next_path)


@pages.post(ADDRESSES)
async def addresses_submit(request: Request, uow: Uow, user: CurrentUser, next_path: NextPath = None) -> Response:
    form = await read_form(request, s.AddressIn)
    back = safe_next(form.values.get("next") or next_path, ADDRESSES)
    data = form.data
    if data is not None and await submit(uow, form, lambda: addr.add_address(uow, user, data), reraise=ACCESS_ERRORS):
        return see_other(back)
    if user is None:
        return _sign_in_first(request)
    return await _addresses_view(request, uow, user, form=form, next_path=back, status_code=422)


async def _address_edit_view(
    request: Request,
    uow: UnitOfWork,
    user: User,
    address_id: Id,
    form: Form[Any] | None = None,
    status_code: int = 200,
) -> Response:
    address = await addr.address_of(uow.session, user, address_id)
    values = {
        "recipient": address.recipient,
        "phone": address.phone,
        "region_code": address.region_code,
        "street": address.street,
    }
    return render(
        request,
        "commerce/address_edit.html",
        {
            "user": user,
            "address": addr.address_out(address),
            "form": form or Form(values=values),
            "provinces": regions.children(None),
            **_address_limits(),
        },
        status_code=status_code,
    )


@pages.get(ADDRESSES + "/{address_id}")
async def address_edit_page(address_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _address_edit_view(request, uow, user, address_id)


@pages.post(ADDRESSES + "/{address_id}")
async def address_edit_submit(address_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    form = await read_form(request, s.AddressPatch)
    data = form.data
    if data is not None and await submit(
        uow, form, lambda: addr.update_address(uow, user, address_id, data), reraise=ACCESS_ERRORS
    ):
        return see_other(ADDRESSES)
    if user is None:
        return _sign_in_first(request)
    return await _address_edit_view(request, uow, user, address_id, form=form, status_code=422)


@pages.post(ADDRESSES + "/{address_id}/delete")
async def address_delete(address_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    await addr.delete_address(uow, user, address_id)
    return see_other(ADDRESSES)


@pages.post(ADDRESSES + "/{address_id}/default")
async def address_default(address_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    await addr.set_default_address(uow, user, address_id)
    return see_other(ADDRESSES)


# -- cart -----------------------------------------------------------------------------------------


async def _coupons_for(uow: UnitOfWork, user: User, lines: s.CartOut) -> QuoteOut | None:
    """The buyer's coupons against every line that can be bought now (the best first), or None."""
    wanted = [
        Wanted(x.sku_id, x.quantity, x.checkout_session_id)
        for g in lines.groups
        for x in g.lines
        if x.status == "available"
    ]
    if not wanted:
        return None
    try:
        return await coupon_quote(uow, user, wanted)
    except DomainError:  # a line went off sale meanwhile: checkout will say so
        return None


async def _cart_view(
    request: Request, uow: UnitOfWork, user: User, *, form: Form[Any] | None = None, status_code: int = 200
) -> Response:
    addresses = [addr.address_out(a) for a in await addr.list_addresses(uow.session, user.id)]
    lines = await cart.cart_of(uow.session, user.id)
    return render(
        request,
        "commerce/cart.html",
        {
            "user": user,
            "cart": lines,
            "coupons": await _coupons_for(uow, user, lines),
            "addresses": addresses,
            "form": form or Form(),
            "quantity_max": QUANTITY_MAX,
        },
        status_code=status_code,
    )


@pages.get("/cart")
async def cart_page(request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    return await _cart_view(request, uow, user)


@pages.post("/cart")
async def cart_add(request: Request, uow: Uow, user: CurrentUser) -> Response:
    """ "Add to cart" from a product page or a storefront: back there, or to the cart."""
    _raw, values = await read_raw_form(request)
    back = safe_next(values.get("next"), "/cart")
    if user is None:
        return see_other(f"/signin?next={back}")
    form: Form[s.CartLineIn] = Form(values=values)
    fields = {k: values[k] for k in ("sku_id", "quantity", "session_id") if values.get(k, "").strip()}
    validate_into(form, s.CartLineIn, fields)
    data = form.data
    if data is not None and await submit(
        uow,
        form,
        lambda: cart.add_to_cart(uow, user, data.sku_id, data.quantity, data.session_id),
        reraise=ACCESS_ERRORS,
    ):
        return see_other(back if back == "/cart" else f"{back}{'&' if '?' in back else '?'}added=1")
    if not form.message:
        form.message = next(iter(form.errors.values()), "")
    return await _cart_view(request, uow, user, form=form, status_code=422)


@pages.post("/cart/{line_id}")
async def cart_quantity(line_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    form = await read_form(request, s.CartQuantityIn)
    data = form.data
    if data is not None and await submit(
        uow, form, lambda: cart.set_quantity(uow, user, line_id, data.quantity), reraise=ACCESS_ERRORS
    ):
        return see_other("/cart")
    if user is None:
        return _sign_in_first(request)
    if not form.message:
        form.message = next(iter(form.errors.values()), "")
    return await _cart_view(request, uow, user, form=form, status_code=422)


@pages.post("/cart/{line_id}/remove")
async def cart_remove(line_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    await cart.remove_line(uow, user, line_id)
    return see_other("/cart")


# -- the buyer's orders ---------------------------------------------------------------------------


@pages.get("/orders")
async def orders_page(
    request: Request, uow: Uow, user: CurrentUser, state: StateParam = None, offset: Offset = 0
) -> Response:
    if user is None:
        return _sign_in_first(request)
    chosen = _state(state)
    page = await q.buyer_orders(uow.session, user, chosen, limit=PAGE_SIZE, offset=offset)
    return render(
        request,
        "commerce/orders.html",
        {
            "user": user,
            "page": page,
            "states": list(OrderState),
            "state": chosen.value if chosen else "",
            "page_size": PAGE_SIZE,
        },
    )


@pages.get("/orders/{order_id}")
async def order_page(order_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return _sign_in_first(request)
    order, viewer = await q.viewable_order(uow.session, user, order_id)
    return render(
        request,
        "commerce/order.html",
        {
            "user": user,
            "order": await q.order_detail(uow.session, order, viewer),
            "is_buyer": order.buyer_id == user.id,
            **await fulfilment_queries.order_fulfilment(uow.session, user, order),
        },
    )


@pages.post("/orders/{order_id}/cancel")
async def order_cancel(order_id: Id, request: Request, uow: Uow, ctx: Services, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    order, _viewer = await q.viewable_order(uow.session, user, order_id)
    await order_actions.cancel_order(uow, ctx.gate, user, order)
    return see_other(f"/orders/{order_id}")


@pages.post("/orders/{order_id}/confirm")
async def order_confirm(order_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    await check_form_csrf(request)
    order, _viewer = await q.viewable_order(uow.session, user, order_id)
    await order_actions.confirm_delivery(uow, user, order)
    return see_other(f"/orders/{order_id}")


@pages.post("/orders/{order_id}/ship")
async def order_ship(order_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    _raw, values = await read_raw_form(request)
    order, _viewer = await q.viewable_order(uow.session, user, order_id)
    await order_actions.ship_order(uow, user, order)
    return see_other(safe_next(values.get("next"), f"/orders/{order_id}"))


# -- an organisation's orders to ship, a room's orders --------------------------------------------


@pages.get("/orgs/{slug}/orders")
async def organisation_orders_page(
    slug: str, request: Request, uow: Uow, user: CurrentUser, state: StateParam = None, offset: Offset = 0
) -> Response:
    """Paid orders waiting to be shipped, unless another state (or "all") is asked for."""
    if user is None:
        return _sign_in_first(request)
    org = await org_or_404(uow, slug)
    chosen = OrderState.PAID if state is None else _state(state)
    page = await q.organisation_orders(uow.session, user, org, chosen, limit=PAGE_SIZE, offset=offset)
    return render(
        request,
        "commerce/org_orders.html",
        {
            "user": user,
            "org": org,
            "page": page,
            "states": list(OrderState),
            "state": chosen.value if chosen else "all",
            "page_size": PAGE_SIZE,
        },
    )


@pages.get("/live/{session_id:int}/orders")
async def session_orders_page(
    session_id: Id, request: Request, uow: Uow, user: CurrentUser, offset: Offset = 0
) -> Response:
    if user is None:
        return _sign_in_first(request)
    live = await live_session_or_404(uow, session_id)
    data = await q.session_orders(uow.session, user, live, limit=SESSION_PAGE_SIZE, offset=offset)
    return render(
        request,
        "commerce/session_orders.html",
        {"user": user, "live": live, "data": data, "page_size": SESSION_PAGE_SIZE},
    )
