"""The "on sale in these rooms" section of catalog's storefront and product pages.

Catalog sits below live and cannot ask which rooms sell its goods: the composition root adds
`selling_rooms_section` as a dependency of catalog's page router (as reviews does for the product
page), and it leaves the rooms on the request for catalog/_selling_rooms.html."""

from __future__ import annotations

from fastapi import Request

from fieldcast.accounts.queries import organisation_by_slug
from fieldcast.catalog.models import ProductStatus
from fieldcast.catalog.queries import load_product
from fieldcast.inputs import parse_int
from fieldcast.live import queries as q
from fieldcast.live.cards import room_cards
from fieldcast.web.context import services
from fieldcast.web.deps import Uow

STATE_KEY = "selling_rooms"
PRODUCT_PAGE_ROUTE = "/p/{product_id}"
STOREFRONT_ROUTE = "/s/{slug}"
ROOMS_SHOWN = 6


async def selling_rooms_section(request: Request, uow: Uow) -> None:
    """On a product page or a storefront (GET), load the live, upcoming and replayed rooms whose
    shelf holds its goods. Other pages of the router cost nothing; the page itself still decides
    whether its product may be seen."""
    path = getattr(request.scope.get("route"), "path", None)
    if request.method != "GET" or path not in (PRODUCT_PAGE_ROUTE, STOREFRONT_ROUTE):
        return
    if path == PRODUCT_PAGE_ROUTE:
        product_id = parse_int(str(request.path_params.get("product_id", "")))
        product = None if product_id is None else await load_product(uow.session, product_id)
        if product is None or product.status != ProductStatus.PUBLISHED:
            return
        lives = await q.sessions_selling(uow.session, product_id=product.id, limit=ROOMS_SHOWN)
    else:
        org = await organisation_by_slug(uow.session, str(request.path_params.get("slug", "")))
        if org is None:
            return
        lives = await q.sessions_selling(uow.session, organisation_id=org.id, limit=ROOMS_SHOWN)
    hls = services(request).settings.hls_base_url
    setattr(request.state, STATE_KEY, await room_cards(request, await q.sessions_out(uow.session, lives, hls)))
