"""Catalog as HTML pages: storefronts, product pages, search, and the forms that manage them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.accounts.queries import roles_in_org
from fieldcast.accounts.routes import org_or_404
from fieldcast.catalog import actions as a
from fieldcast.catalog import authority_routes, regions
from fieldcast.catalog import errors as e
from fieldcast.catalog import queries as q
from fieldcast.catalog import schemas as s
from fieldcast.catalog.images import MAX_IMAGE_BYTES
from fieldcast.catalog.models import Category, InspectionResult, Product, SupplierKind
from fieldcast.catalog.routes import visible_product
from fieldcast.db.uow import UnitOfWork
from fieldcast.i18n import N_, gettext
from fieldcast.inputs import Id
from fieldcast.web.api import Offset
from fieldcast.web.deps import Ctx, Uow
from fieldcast.web.forms import (
    ACCESS_ERRORS,
    Form,
    check_form_csrf,
    read_form,
    read_raw_form,
    read_upload,
    see_other,
    submit,
    validate_into,
)
from fieldcast.web.money import BadAmount, parse_yuan
from fieldcast.web.templating import render

pages = APIRouter(include_in_schema=False)
pages.include_router(authority_routes.pages)  # organisation verification (authorities, governments)
PAGE_SIZE = 24


def _with_admin(user: User, roles: set[Role]) -> set[Role]:
    """Platform admins act as owners on pages (the actions let them through)."""
    return roles | {Role.OWNER} if user.is_platform_admin else roles


async def _roles(uow: UnitOfWork, user: User | None, org_id: Id) -> set[Role]:
    if user is None:
        return set()
    return _with_admin(user, await roles_in_org(uow.session, user.id, org_id))


async def _editor_roles(uow: UnitOfWork, user: User | None, org_id: Id) -> set[Role]:
    """Refuse all but the organisation's product editors; return the editor's roles."""
    roles = await require_org_role(uow.session, user, org_id, *a.EDITORS)
    return _with_admin(require_user(user), roles)


# -- public: search, storefront, product page ------------------------------------------------------


RegionParam = Annotated[str | None, Query(pattern=r"^(\d{6})?$")]


def _region_choice(province: str | None, city: str | None, county: str | None) -> list[str]:
    """The chosen province, city and county codes, each kept only under the one before it (a
    plain GET form may send a city left over from another province): [] up to three codes."""
    chosen: list[str] = []
    parent: str | None = None
    for code in (province, city, county):
        region = regions.get_region(code) if code else None
        if region is None or region.parent_code != parent:
            break
        chosen.append(region.code)
        parent = region.code
    return chosen


@pages.get("/products")
async def products_page(
    request: Request,
    uow: Uow,
    user: CurrentUser,
    q_: Annotated[str | None, Query(alias="q", max_length=40)] = None,
    province: RegionParam = None,
    city: RegionParam = None,
    county: RegionParam = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    offset: Offset = 0,
) -> Response:
    """Product search. The region filter is three selects (province, city, county) that work as a
    plain GET form: each answer lists the choices under the last one picked; static/region_filter.js
    fills them without a round trip."""
    chosen = Category(category) if category in {c.value for c in Category} else None
    picked = _region_choice(province, city, county)
    flt = q.ProductFilter(q=q_ or None, region=picked[-1] if picked else None, category=chosen)
    items, total = await q.search_products(uow.session, flt, limit=PAGE_SIZE, offset=offset)
    picked_at = dict(zip(("province", "city", "county"), picked, strict=False))
    return render(
        request,
        "catalog/products.html",
        {
            "user": user,
            "items": items,
            "total": total,
            "q": q_ or "",
            "province": picked_at.get("province", ""),
            "city": picked_at.get("city", ""),
            "county": picked_at.get("county", ""),
            "provinces": regions.children(None),
            "cities": regions.children(picked[0]) if picked else [],
            "counties": regions.children(picked[1]) if len(picked) > 1 else [],
            "category": chosen.value if chosen else "",
            "categories": list(Category),
            "offset": offset,
            "page_size": PAGE_SIZE,
        },
    )


@pages.get("/s/{slug}")
async def storefront_page(
    slug: str,
    request: Request,
    uow: Uow,
    user: CurrentUser,
    category: Annotated[str | None, Query(max_length=32)] = None,
    offset: Offset = 0,
) -> Response:
    """The organisation's permanent storefront: open whether or not anyone is live."""
    org = await org_or_404(uow, slug)
    chosen = Category(category) if category in {c.value for c in Category} else None
    flt = q.ProductFilter(organisation_id=org.id, category=chosen)
    items, total = await q.search_products(uow.session, flt, limit=PAGE_SIZE, offset=offset)
    roles = await _roles(uow, user, org.id)
    return render(
        request,
        "catalog/storefront.html",
        {
            "user": user,
            "org": org,
            "items": items,
            "total": total,
            "categories": list(Category),
            "category": chosen.value if chosen else "",
            "offset": offset,
            "page_size": PAGE_SIZE,
            "logo_url": q.media_url(org.logo_path),
            "roles": roles,
            "can_edit": bool(roles & {Role.OWNER, Role.ORGANISER, Role.SUPPLIER}),
        },
    )


@pages.get("/p/{product_id}")
async def product_page(product_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    product = await visible_product(uow, product_id, user)
    out = await q.product_out(uow.session, product, user)
    roles = await _roles(uow, user, product.organisation_id)
    return render(
        request,
        "catalog/product.html",
        {
            "user": user,
            "p": out,
            "roles": roles,
            "can_edit": bool(roles & {Role.OWNER, Role.ORGANISER, Role.SUPPLIER}),
            "can_inspect": bool(await q.authorities_for(uow.session, user, product)),
            "inspections": await q.list_inspections(uow.session, product.id),
            "supplier_region": await _supplier_region(uow, product),
        },
    )


async def _supplier_region(uow: UnitOfWork, product: Product) -> str:
    suppliers = {x.id: x for x in await q.list_suppliers(uow.session, product.organisation_id)}
    supplier = suppliers.get(product.supplier_id)
    return regions.full_name(supplier.ship_from_region) if supplier else ""


# -- suppliers and brand ----------------------------------------------------------------------------


async def _suppliers_view(
    request: Request,
    uow: UnitOfWork,
    user: User | None,
    org: Organisation,
    form: Form[s.SupplierIn] | None = None,
    brand_form: Form[s.BrandIn] | None = None,
    status_code: int = 200,
) -> Response:
    await require_org_role(uow.session, user, org.id, *a.MANAGERS)
    return render(
        request,
        "catalog/suppliers.html",
        {
            "user": user,
            "org": org,
            "suppliers": [q.supplier_out(x) for x in await q.list_suppliers(uow.session, org.id)],
            "form": form or Form(),
            "kinds": list(SupplierKind),
            "brand_form": brand_form or Form(values={"brand_name": org.brand_name}),
            "logo_url": q.media_url(org.logo_path),
            "provinces": regions.children(None),
        },
        status_code=status_code,
    )


@pages.get("/orgs/{slug}/suppliers")
async def suppliers_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next=/orgs/{slug}/suppliers")
    return await _suppliers_view(request, uow, user, await org_or_404(uow, slug))


@pages.post("/orgs/{slug}/suppliers")
async def suppliers_submit(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    org = await org_or_404(uow, slug)
    form = await read_form(request, s.SupplierIn)
    data = form.data
    if data is not None and await submit(uow, form, lambda: a.create_supplier(uow, user, org, data)):
        return see_other(f"/orgs/{slug}/suppliers")
    return await _suppliers_view(request, uow, user, org, form=form, status_code=422)


@pages.post("/orgs/{slug}/brand")
async def brand_submit(slug: str, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    org = await org_or_404(uow, slug)
    raw, _values = await read_raw_form(request)
    form: Form[s.BrandIn] = Form(values={"brand_name": str(raw.get("brand_name") or "")})
    validate_into(form, s.BrandIn, {"brand_name": form.values["brand_name"]})
    logo = await read_upload(raw, "logo", MAX_IMAGE_BYTES)
    data = form.data
    media_dir = ctx.settings.resolved_media_dir
    if data is not None and await submit(
        uow,
        form,
        lambda: a.set_brand(uow, user, org, brand_name=data.brand_name, logo=logo, media_dir=media_dir),
    ):
        return see_other(f"/s/{slug}")
    return await _suppliers_view(request, uow, user, org, brand_form=form, status_code=422)


# -- product create / edit --------------------------------------------------------------------------

SKU_FIELDS = {
    "skus.0.spec_label": "sku_spec_label",
    "skus.0.price_fen": "sku_price_yuan",
    "skus.0.unit_cost_fen": "sku_cost_yuan",
    "skus.0.weight_g": "sku_weight_g",
    "skus.0.shelf_life_days": "sku_shelf_life_days",
    "skus.0.stock": "sku_stock",
    "skus.0.per_buyer_limit": "sku_per_buyer_limit",
    "price_fen": "sku_price_yuan",
    "unit_cost_fen": "sku_cost_yuan",
    "weight_g": "sku_weight_g",
    "shelf_life_days": "sku_shelf_life_days",
    "stock": "sku_stock",
    "per_buyer_limit": "sku_per_buyer_limit",
    "spec_label": "sku_spec_label",
}


def _sku_values(values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    """Form fields (yuan, blanks) into SkuIn values (fen, None); amount errors go to `errors`."""
    out: dict[str, Any] = {"spec_label": values.get("sku_spec_label", "")}
    for key, field in (("sku_price_yuan", "price_fen"), ("sku_cost_yuan", "unit_cost_fen")):
        raw = values.get(key, "").strip()
        if raw:
            try:
                out[field] = parse_yuan(raw)
            except BadAmount:
                errors[key] = gettext(BadAmount.message)
        elif field == "price_fen":
            out[field] = None
    for key, field in (
        ("sku_weight_g", "weight_g"),
        ("sku_shelf_life_days", "shelf_life_days"),
        ("sku_stock", "stock"),
        ("sku_per_buyer_limit", "per_buyer_limit"),
    ):
        raw = values.get(key, "").strip()
        if raw:
            out[field] = raw
        elif field == "weight_g":
            out[field] = None
    return out


def _form_context(
    user: User | None,
    org: Organisation,
    form: Form[Any],
    suppliers: list[s.SupplierOut],
    roles: set[Role],
    product: s.ProductOut | None = None,
) -> dict[str, Any]:
    return {
        "user": user,
        "org": org,
        "form": form,
        "suppliers": suppliers,
        "categories": list(Category),
        "provinces": regions.children(None),
        "product": product,
        "may_set_cost": bool(roles & {Role.OWNER, Role.ORGANISER}),
    }


@pages.get("/orgs/{slug}/products/new")
async def product_new_page(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next=/orgs/{slug}/products/new")
    org = await org_or_404(uow, slug)
    roles = await _editor_roles(uow, user, org.id)
    suppliers = [q.supplier_out(x) for x in await q.list_suppliers(uow.session, org.id)]
    return render(request, "catalog/product_form.html", _form_context(user, org, Form(), suppliers, roles))


@pages.post("/orgs/{slug}/products/new")
async def product_new_submit(slug: str, request: Request, uow: Uow, user: CurrentUser) -> Response:
    org = await org_or_404(uow, slug)
    roles = await _editor_roles(uow, user, org.id)
    _raw, values = await read_raw_form(request)
    form: Form[s.ProductIn] = Form(values=values)
    sku = _sku_values(form.values, form.errors)
    data = {
        "supplier_id": form.values.get("supplier_id") or None,
        "title": form.values.get("title", ""),
        "description": form.values.get("description", ""),
        "category": form.values.get("category", ""),
        "origin_region": form.values.get("origin_region", ""),
        "skus": [sku],
    }
    validate_into(form, s.ProductIn, data, SKU_FIELDS)
    product_in = form.data
    if product_in is not None and not form.errors:
        done = await submit(uow, form, lambda: a.create_product(uow, user, org, product_in), field_map=SKU_FIELDS)
        if done:
            return see_other(f"/p/{done.value.id}/edit")
    suppliers = [q.supplier_out(x) for x in await q.list_suppliers(uow.session, org.id)]
    return render(
        request, "catalog/product_form.html", _form_context(user, org, form, suppliers, roles), status_code=422
    )


async def _edit_view(
    request: Request,
    uow: UnitOfWork,
    user: User | None,
    product: Product,
    *,
    form: Form[Any] | None = None,
    sku_form: Form[Any] | None = None,
    image_form: Form[Any] | None = None,
    publish_form: Form[Any] | None = None,
    withdraw_form: Form[Any] | None = None,
    status_code: int = 200,
) -> Response:
    roles = await _editor_roles(uow, user, product.organisation_id)
    org = await uow.session.get(Organisation, product.organisation_id)
    out = await q.product_out(uow.session, product, user)
    suppliers = [q.supplier_out(x) for x in await q.list_suppliers(uow.session, product.organisation_id)]
    values = {
        "supplier_id": str(product.supplier_id),
        "title": product.title,
        "description": product.description,
        "category": product.category.value,
        "origin_region": product.origin_region,
    }
    ctx = _form_context(user, org, form or Form(values=values), suppliers, roles, out)  # type: ignore[arg-type]
    ctx.update(
        {
            "sku_form": sku_form or Form(),
            "image_form": image_form or Form(),
            "publish_form": publish_form or Form(),
            "withdraw_form": withdraw_form or Form(),
            "roles": roles,
            "may_publish": bool(roles & {Role.OWNER, Role.ORGANISER}),
        }
    )
    return render(request, "catalog/product_edit.html", ctx, status_code=status_code)


@pages.get("/p/{product_id}/edit")
async def product_edit_page(product_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next=/p/{product_id}/edit")
    return await _edit_view(request, uow, user, await visible_product(uow, product_id, user))


@pages.post("/p/{product_id}/edit")
async def product_edit_submit(product_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    product = await visible_product(uow, product_id, user)
    form = await read_form(request, s.ProductPatch)
    data = form.data
    if data is not None and await submit(uow, form, lambda: a.update_product(uow, user, product, data)):
        return see_other(f"/p/{product_id}/edit")
    await uow.session.refresh(product)
    return await _edit_view(request, uow, user, product, form=form, status_code=422)


@pages.post("/p/{product_id}/skus")
async def product_sku_submit(product_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    product = await visible_product(uow, product_id, user)
    _raw, values = await read_raw_form(request)
    form: Form[s.SkuIn] = Form(values=values)
    validate_into(form, s.SkuIn, _sku_values(form.values, form.errors), SKU_FIELDS)
    data = form.data
    if (
        data is not None
        and not form.errors
        and await submit(uow, form, lambda: a.add_sku(uow, user, product, data), field_map=SKU_FIELDS)
    ):
        return see_other(f"/p/{product_id}/edit")
    return await _edit_view(request, uow, user, product, sku_form=form, status_code=422)


@pages.post("/p/{product_id}/images")
async def product_image_submit(product_id: Id, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    product = await visible_product(uow, product_id, user)
    raw, _values = await read_raw_form(request)
    form: Form[Any] = Form()
    data = await read_upload(raw, "image", MAX_IMAGE_BYTES) or b""
    media_dir, alt = ctx.settings.resolved_media_dir, str(raw.get("alt") or "")
    if await submit(uow, form, lambda: a.add_product_image(uow, user, product, data, media_dir, alt=alt)):
        return see_other(f"/p/{product_id}/edit")
    return await _edit_view(request, uow, user, product, image_form=form, status_code=422)


@pages.post("/p/{product_id}/publish")
async def product_publish_submit(product_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    product = await visible_product(uow, product_id, user)
    form = await read_form(request, s.PublishIn)
    data = form.data
    if data is not None and await submit(uow, form, lambda: a.publish_product(uow, user, product, data)):
        return see_other(f"/p/{product_id}")
    return await _edit_view(request, uow, user, product, publish_form=form, status_code=422)


@pages.post("/p/{product_id}/withdraw")
async def product_withdraw_submit(product_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    product = await visible_product(uow, product_id, user)
    _raw, values = await read_raw_form(request)
    form: Form[Any] = Form(values=values)
    reason = values.get("reason", "")
    if await submit(uow, form, lambda: a.withdraw_product(uow, user, product, reason), reraise=ACCESS_ERRORS):
        return see_other(f"/p/{product_id}/edit")
    return await _edit_view(request, uow, user, product, withdraw_form=form, status_code=422)


# -- inspections ------------------------------------------------------------------------------------


def _inspection_values(values: dict[str, str]) -> dict[str, Any]:
    items = [line.strip() for line in values.get("items_checked", "").replace("，", ",").replace("\n", ",").split(",")]
    return {
        "authority": values.get("authority") or None,
        "sample_date": values.get("sample_date") or None,
        "lab_name": values.get("lab_name", ""),
        "certificate_no": values.get("certificate_no", ""),
        "items_checked": [i for i in items if i],
        "result": values.get("result", ""),
        "valid_until": values.get("valid_until") or None,
        "notes": values.get("notes", ""),
    }


async def _inspection_form(
    request: Request,
    uow: UnitOfWork,
    user: User,
    product: Product,
    form: Form[s.InspectionIn],
    status_code: int = 200,
) -> Response:
    """The form lists every organisation the user inspects for; the action says which may not."""
    mine = await q.inspector_organisations(uow.session, user.id)
    if not mine:
        raise e.NotAnInspector(N_("Only inspectors of an inspection authority record inspections."))
    counting = {o.id for o in mine if q.may_inspect_for(o, product)}
    context = {
        "user": user,
        "p": product,
        "form": form,
        "results": list(InspectionResult),
        "authorities": sorted(mine, key=lambda o: o.id not in counting),
        "counting": counting,
    }
    return render(request, "catalog/inspection_form.html", context, status_code=status_code)


@pages.get("/p/{product_id}/inspections/new")
async def inspection_new_page(product_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next=/p/{product_id}/inspections/new")
    product = await visible_product(uow, product_id, user)
    values = {"sample_date": date.today().isoformat(), "result": "pass"}
    return await _inspection_form(request, uow, user, product, Form(values=values))


@pages.post("/p/{product_id}/inspections/new")
async def inspection_new_submit(product_id: Id, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    if user is None:
        return see_other(f"/signin?next=/p/{product_id}/inspections/new")
    product = await visible_product(uow, product_id, user)
    raw, values = await read_raw_form(request)
    form: Form[s.InspectionIn] = Form(values=values)
    validate_into(form, s.InspectionIn, _inspection_values(form.values))
    attachment = raw.get("attachment")

    async def record(data: s.InspectionIn) -> None:
        """The inspection and its lab report, if one was chosen: both or neither."""
        inspection = await a.record_inspection(uow, user, product, data)
        if isinstance(attachment, UploadFile) and attachment.filename:
            file = await attachment.read(a.ATTACHMENT_MAX_BYTES + 1)
            await a.attach_inspection_file(uow, user, inspection, file, ctx.settings.resolved_media_dir)

    data = form.data
    if data is not None and await submit(uow, form, lambda: record(data)):
        return see_other(f"/p/{product_id}")
    return await _inspection_form(request, uow, user, product, form, status_code=422)


@pages.post("/p/{product_id}/images/{image_id}/remove")
async def product_image_remove(
    product_id: Id, image_id: Id, request: Request, uow: Uow, ctx: Ctx, user: CurrentUser
) -> Response:
    product = await visible_product(uow, product_id, user)
    await check_form_csrf(request)
    await a.remove_product_image(uow, user, product, image_id, ctx.settings.resolved_media_dir)
    return see_other(f"/p/{product_id}/edit")
