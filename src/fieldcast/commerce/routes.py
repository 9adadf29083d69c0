"""Commerce over HTTP: the JSON API under /api/v1 for the buyer's addresses, cart and orders, an
organisation's orders to ship and a live room's orders. Thin: parse, call one action or query,
answer. Every write takes an Idempotency-Key (web/idempotency.py)."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import User
from fieldcast.accounts.permissions import require_user
from fieldcast.accounts.routes import org_or_404
from fieldcast.commerce import addresses as addr
from fieldcast.commerce import cart
from fieldcast.commerce import orders as order_actions
from fieldcast.commerce import queries as q
from fieldcast.commerce import schemas as s
from fieldcast.commerce.checkout import Wanted, coupon_quote
from fieldcast.commerce.coupons.schemas import QuoteIn, QuoteOut
from fieldcast.commerce.gate import StockGate
from fieldcast.commerce.models import OrderState
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.live.models import LiveSession
from fieldcast.live.queries import load_session
from fieldcast.web.api import PROBLEMS, Limit, Offset, Page
from fieldcast.web.context import context_of
from fieldcast.web.deps import Uow

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["commerce"])


class CommerceServices(Protocol):
    """What commerce's routes need of the process (the composition root's context)."""

    gate: StockGate


def commerce_services(request: Request) -> CommerceServices:
    ctx: CommerceServices = context_of(request)
    return ctx


Services = Annotated[CommerceServices, Depends(commerce_services)]


async def live_session_or_404(uow: UnitOfWork, session_id: Id) -> LiveSession:
    live = await load_session(uow.session, session_id)
    if live is None:
        raise NotFound(N_("No such session."))
    return live


async def cart_out(uow: UnitOfWork, user: User | None) -> s.CartOut:
    return await cart.cart_of(uow.session, require_user(user).id)


# -- addresses ------------------------------------------------------------------------------------


@api.get("/me/addresses", response_model=list[s.AddressOut])
async def api_addresses(uow: Uow, user: CurrentUser) -> list[s.AddressOut]:
    """The buyer's addresses, the default first."""
    me = require_user(user)
    return [addr.address_out(a) for a in await addr.list_addresses(uow.session, me.id)]


@api.post("/me/addresses", response_model=s.AddressOut, status_code=201)
async def api_add_address(data: s.AddressIn, uow: Uow, user: CurrentUser) -> s.AddressOut:
    """At most 20; the first is the default. `region_code` must be a county-level code."""
    return addr.address_out(await addr.add_address(uow, user, data))


@api.patch("/me/addresses/{address_id}", response_model=s.AddressOut)
async def api_update_address(address_id: Id, patch: s.AddressPatch, uow: Uow, user: CurrentUser) -> s.AddressOut:
    return addr.address_out(await addr.update_address(uow, user, address_id, patch))


@api.delete("/me/addresses/{address_id}", status_code=204)
async def api_delete_address(address_id: Id, uow: Uow, user: CurrentUser) -> Response:
    """Deleting the default makes the newest remaining address the default."""
    await addr.delete_address(uow, user, address_id)
    return Response(status_code=204)


@api.post("/me/addresses/{address_id}/default", response_model=s.AddressOut)
async def api_default_address(address_id: Id, uow: Uow, user: CurrentUser) -> s.AddressOut:
    return addr.address_out(await addr.set_default_address(uow, user, address_id))


# -- cart -----------------------------------------------------------------------------------------


@api.get("/me/cart", response_model=s.CartOut)
async def api_cart(uow: Uow, user: CurrentUser) -> s.CartOut:
    """The cart priced now (live price while the room it came from is live), by supplier."""
    return await cart_out(uow, user)


@api.post("/me/cart", response_model=s.CartOut, status_code=201)
async def api_add_to_cart(data: s.CartLineIn, uow: Uow, user: CurrentUser) -> s.CartOut:
    """Add a SKU (from a live room with its `session_id`); the same SKU from the same room adds
    to its line. At most 50 lines."""
    await cart.add_to_cart(uow, user, data.sku_id, data.quantity, data.session_id)
    return await cart_out(uow, user)


@api.patch("/me/cart/{line_id}", response_model=s.CartOut)
async def api_cart_quantity(line_id: Id, data: s.CartQuantityIn, uow: Uow, user: CurrentUser) -> s.CartOut:
    await cart.set_quantity(uow, user, line_id, data.quantity)
    return await cart_out(uow, user)


@api.delete("/me/cart/{line_id}", status_code=204)
async def api_remove_from_cart(line_id: Id, uow: Uow, user: CurrentUser) -> Response:
    await cart.remove_line(uow, user, line_id)
    return Response(status_code=204)


@api.post("/me/coupons/quote", response_model=QuoteOut)
async def api_coupon_quote(data: QuoteIn, uow: Uow, user: CurrentUser) -> QuoteOut:
    """Which of the buyer's coupons apply to these lines and what each takes off, the best first
    (writes nothing): send the chosen one as `coupon_claim_id` with the checkout."""
    wanted = [Wanted(x.sku_id, x.quantity, x.session_id) for x in data.items]
    return await coupon_quote(uow, user, wanted)


# -- orders ---------------------------------------------------------------------------------------


@api.get("/me/orders", response_model=Page[s.OrderOut])
async def api_my_orders(
    uow: Uow, user: CurrentUser, state: OrderState | None = None, limit: Limit = 20, offset: Offset = 0
) -> Page[s.OrderOut]:
    """The buyer's orders, newest first; the phone is theirs, unmasked."""
    return await q.buyer_orders(uow.session, user, state, limit=limit, offset=offset)


@api.get("/orders/{order_id}", response_model=s.OrderOut)
async def api_order(order_id: Id, uow: Uow, user: CurrentUser) -> s.OrderOut:
    """For its buyer, and its organisation's shippers and supervisors (phone masked for these)."""
    order, viewer = await q.viewable_order(uow.session, user, order_id)
    return await q.order_detail(uow.session, order, viewer)


@api.post("/orders/{order_id}/cancel", response_model=s.OrderOut)
async def api_cancel_order(
    order_id: Id, uow: Uow, ctx: Services, user: CurrentUser, data: s.CancelIn | None = None
) -> s.OrderOut:
    """The buyer calls off an unpaid order; its units go back on sale."""
    order, viewer = await q.viewable_order(uow.session, user, order_id)
    reason = data.reason if data is not None else ""
    order = await order_actions.cancel_order(uow, ctx.gate, user, order, reason)
    return await q.order_detail(uow.session, order, viewer)


@api.post("/orders/{order_id}/confirm-delivery", response_model=s.OrderOut)
async def api_confirm_delivery(order_id: Id, uow: Uow, user: CurrentUser) -> s.OrderOut:
    """The buyer says the goods arrived (a shipped order)."""
    order, viewer = await q.viewable_order(uow.session, user, order_id)
    order = await order_actions.confirm_delivery(uow, user, order)
    return await q.order_detail(uow.session, order, viewer)


@api.post("/orders/{order_id}/ship", response_model=s.OrderOut)
async def api_ship_order(order_id: Id, uow: Uow, user: CurrentUser) -> s.OrderOut:
    """The supplier hands a paid order to a carrier (tracking numbers come with fulfilment)."""
    order, viewer = await q.viewable_order(uow.session, user, order_id)
    order = await order_actions.ship_order(uow, user, order)
    return await q.order_detail(uow.session, order, viewer)


@api.get("/organisations/{slug}/orders", response_model=Page[s.OrderOut])
async def api_organisation_orders(
    slug: str, uow: Uow, user: CurrentUser, state: OrderState | None = None, limit: Limit = 20, offset: Offset = 0
) -> Page[s.OrderOut]:
    """Orders to ship (`state=paid`, longest-waiting first) and the rest, for the organisation's
    owners, organisers and supplier-role members."""
    org = await org_or_404(uow, slug)
    return await q.organisation_orders(uow.session, user, org, state, limit=limit, offset=offset)


@api.get("/sessions/{session_id}/orders", response_model=s.SessionOrdersOut)
async def api_session_orders(
    session_id: Id, uow: Uow, user: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> s.SessionOrdersOut:
    """A live room's orders (province only, no names) with its sales per explaining host, for
    the organisation's owners, organisers and supervisors (read-only; phones masked)."""
    live = await live_session_or_404(uow, session_id)
    return await q.session_orders(uow.session, user, live, limit=limit, offset=offset)
