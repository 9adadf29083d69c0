"""Catalog over HTTP: the JSON API under /api/v1. Thin: parse, call one action or query, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import Response

from fieldcast.accounts.auth import CurrentUser
from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role
from fieldcast.accounts.routes import org_or_404
from fieldcast.catalog import actions as a
from fieldcast.catalog import authority_routes
from fieldcast.catalog import queries as q
from fieldcast.catalog import schemas as s
from fieldcast.catalog.images import MAX_IMAGE_BYTES
from fieldcast.catalog.models import ALT_MAX, REASON_MAX, Category, Inspection, Product, ProductStatus, Sku, Supplier
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import NotFound
from fieldcast.i18n import N_
from fieldcast.inputs import Id
from fieldcast.web.api import PROBLEMS, Limit, Offset, Page, text
from fieldcast.web.deps import Ctx, Uow
from fieldcast.web.etag import json_with_etag

api = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["catalog"])
api.include_router(authority_routes.api)  # organisation verification (authorities, governments)

# Who may see an organisation's unpublished products and its suppliers' contacts.
INSIDERS = (Role.OWNER, Role.ORGANISER, Role.SUPPLIER, Role.INSPECTOR, Role.SUPERVISOR)


async def visible_product(uow: UnitOfWork, product_id: Id, viewer: User | None) -> Product:
    """A published product for anyone; a draft or withdrawn one only for the organisation's
    insiders, and for inspectors of an authority that may inspect it (sampling comes before listing)."""
    product = await q.load_product(uow.session, product_id)
    if product is None:
        raise NotFound(N_("No such product."))
    if product.status != ProductStatus.PUBLISHED:
        if viewer is None:
            raise NotFound(N_("No such product."))
        try:
            await require_org_role(uow.session, viewer, product.organisation_id, *INSIDERS)
        except Exception as exc:
            if not await q.authorities_for(uow.session, viewer, product):
                raise NotFound(N_("No such product.")) from exc
    return product


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    return data


# -- suppliers ------------------------------------------------------------------------------------


@api.get("/organisations/{slug}/suppliers", response_model=list[s.SupplierOut])
async def api_suppliers(slug: str, uow: Uow, user: CurrentUser) -> list[s.SupplierOut]:
    """An organisation's suppliers (contacts are for its insiders only)."""
    org = await org_or_404(uow, slug)
    await require_org_role(uow.session, user, org.id, *INSIDERS)
    return [q.supplier_out(x) for x in await q.list_suppliers(uow.session, org.id)]


@api.post("/organisations/{slug}/suppliers", response_model=s.SupplierOut, status_code=201)
async def api_create_supplier(slug: str, data: s.SupplierIn, uow: Uow, user: CurrentUser) -> s.SupplierOut:
    supplier = await a.create_supplier(uow, user, await org_or_404(uow, slug), data)
    return q.supplier_out(supplier)


@api.patch("/suppliers/{supplier_id}", response_model=s.SupplierOut)
async def api_update_supplier(supplier_id: Id, patch: s.SupplierPatch, uow: Uow, user: CurrentUser) -> s.SupplierOut:
    supplier = await uow.session.get(Supplier, supplier_id)
    if supplier is None:
        raise NotFound(N_("No such supplier."))
    return q.supplier_out(await a.update_supplier(uow, user, supplier, patch))


# -- products -------------------------------------------------------------------------------------


@api.get("/products", response_model=Page[s.ProductSummary])
async def api_products(
    request: Request,
    uow: Uow,
    user: CurrentUser,
    q_: Annotated[str | None, Query(alias="q", max_length=40)] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    category: Category | None = None,
    organisation: Annotated[str | None, Query(max_length=48)] = None,
    include_unpublished: bool = False,
    limit: Limit = 24,
    offset: Offset = 0,
) -> Response:
    """Search published products by text, region (a province or city includes its counties) and
    category. `include_unpublished` shows an organisation's drafts to its insiders."""
    org: Organisation | None = await org_or_404(uow, organisation) if organisation else None
    if include_unpublished:
        if org is None:
            raise NotFound(N_("Name the organisation whose drafts you want to see."), field="organisation")
        await require_org_role(uow.session, user, org.id, *INSIDERS)
    flt = q.ProductFilter(
        q=q_,
        region=region,
        category=category,
        organisation_id=org.id if org else None,
        include_unpublished=include_unpublished,
    )
    items, total = await q.search_products(uow.session, flt, limit=limit, offset=offset)
    return json_with_etag(request, Page(items=items, total=total, limit=limit, offset=offset))


@api.post("/organisations/{slug}/products", response_model=s.ProductOut, status_code=201)
async def api_create_product(slug: str, data: s.ProductIn, uow: Uow, user: CurrentUser) -> s.ProductOut:
    """Create a draft product with its SKUs. The response lists any claim-checker hits."""
    product = await a.create_product(uow, user, await org_or_404(uow, slug), data)
    return await q.product_out(uow.session, product, user)


@api.get("/products/{product_id}", response_model=s.ProductOut)
async def api_product(product_id: Id, request: Request, uow: Uow, user: CurrentUser) -> Response:
    product = await visible_product(uow, product_id, user)
    return json_with_etag(request, await q.product_out(uow.session, product, user))


@api.patch("/products/{product_id}", response_model=s.ProductOut)
async def api_update_product(product_id: Id, patch: s.ProductPatch, uow: Uow, user: CurrentUser) -> s.ProductOut:
    product = await visible_product(uow, product_id, user)
    await a.update_product(uow, user, product, patch)
    return await q.product_out(uow.session, product, user)


@api.post("/products/{product_id}/skus", response_model=s.SkuOut, status_code=201)
async def api_add_sku(product_id: Id, data: s.SkuIn, uow: Uow, user: CurrentUser) -> s.SkuOut:
    product = await visible_product(uow, product_id, user)
    sku = await a.add_sku(uow, user, product, data)
    return q.sku_out_for(sku, await q.can_see_costs(uow.session, user, product.organisation_id))


@api.patch("/products/{product_id}/skus/{sku_id}", response_model=s.SkuOut)
async def api_update_sku(product_id: Id, sku_id: Id, patch: s.SkuPatch, uow: Uow, user: CurrentUser) -> s.SkuOut:
    product = await visible_product(uow, product_id, user)
    sku = await uow.session.get(Sku, sku_id)
    if sku is None:
        raise NotFound(N_("No such SKU."))
    await a.update_sku(uow, user, product, sku, patch)
    return q.sku_out_for(sku, await q.can_see_costs(uow.session, user, product.organisation_id))


@api.post("/products/{product_id}/publish", response_model=s.ProductOut)
async def api_publish(product_id: Id, data: s.PublishIn, uow: Uow, user: CurrentUser) -> s.ProductOut:
    """Publish on the storefront. With claim-checker hits, 409 unless an organiser gives override_reason."""
    product = await visible_product(uow, product_id, user)
    await a.publish_product(uow, user, product, data)
    return await q.product_out(uow.session, product, user)


class WithdrawIn(BaseModel):
    # Optional, for the audit log; the rule is withdraw_product's, with the same limit.
    reason: text(0, REASON_MAX) = ""  # type: ignore[valid-type]


@api.post("/products/{product_id}/withdraw", response_model=s.ProductOut)
async def api_withdraw(product_id: Id, data: WithdrawIn, uow: Uow, user: CurrentUser) -> s.ProductOut:
    product = await visible_product(uow, product_id, user)
    await a.withdraw_product(uow, user, product, data.reason)
    return await q.product_out(uow.session, product, user)


@api.post("/products/{product_id}/images", response_model=s.ImageOut, status_code=201)
async def api_add_image(
    product_id: Id,
    uow: Uow,
    ctx: Ctx,
    user: CurrentUser,
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP, at most 8 MB")],
    alt: Annotated[str, Form(max_length=ALT_MAX)] = "",
) -> s.ImageOut:
    product = await visible_product(uow, product_id, user)
    data = await _read_upload(image, MAX_IMAGE_BYTES)
    row = await a.add_product_image(uow, user, product, data, ctx.settings.resolved_media_dir, alt=alt)
    return s.ImageOut(
        id=row.id,
        url=q.media_url(row.path),
        thumb_url=q.media_url(row.thumb_path),
        width=row.width,
        height=row.height,
        alt=row.alt,
    )


@api.delete("/products/{product_id}/images/{image_id}", status_code=204)
async def api_remove_image(product_id: Id, image_id: Id, uow: Uow, ctx: Ctx, user: CurrentUser) -> Response:
    product = await visible_product(uow, product_id, user)
    await a.remove_product_image(uow, user, product, image_id, ctx.settings.resolved_media_dir)
    return Response(status_code=204)


# -- inspections and the gate ---------------------------------------------------------------------


@api.get("/products/{product_id}/inspections", response_model=list[s.InspectionOut])
async def api_inspections(product_id: Id, uow: Uow, user: CurrentUser) -> list[s.InspectionOut]:
    product = await visible_product(uow, product_id, user)
    return await q.list_inspections(uow.session, product.id)


@api.post("/products/{product_id}/inspections", response_model=s.InspectionOut, status_code=201)
async def api_record_inspection(product_id: Id, data: s.InspectionIn, uow: Uow, user: CurrentUser) -> s.InspectionOut:
    """Inspectors of a verified inspection authority whose jurisdiction covers the product's origin
    record a sampling inspection; never the seller's own people. `authority` names the authority
    (its slug) for inspectors of more than one."""
    product = await visible_product(uow, product_id, user)
    inspection = await a.record_inspection(uow, user, product, data)
    return next(i for i in await q.list_inspections(uow.session, product.id) if i.id == inspection.id)


@api.post("/inspections/{inspection_id}/attachment", response_model=s.InspectionOut)
async def api_attach_inspection(
    inspection_id: Id,
    uow: Uow,
    ctx: Ctx,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="The lab report: PDF or a photo, at most 8 MB")],
) -> s.InspectionOut:
    inspection = await uow.session.get(Inspection, inspection_id)
    if inspection is None:
        raise NotFound(N_("No such inspection."))
    data = await _read_upload(file, a.ATTACHMENT_MAX_BYTES)
    await a.attach_inspection_file(uow, user, inspection, data, ctx.settings.resolved_media_dir)
    return next(i for i in await q.list_inspections(uow.session, inspection.product_id) if i.id == inspection.id)


class GateIn(BaseModel):
    sku_ids: list[Id] = Field(min_length=1, max_length=200)


@api.post("/catalog/public-welfare-gate", response_model=list[s.GateOut])
async def api_gate(data: GateIn, uow: Uow) -> list[s.GateOut]:
    """Which SKUs may go on a public-welfare shelf: a passing, unexpired inspection by a verified
    inspection authority whose jurisdiction covers the origin, never the seller's own. Read-only."""
    results = await q.public_welfare_gate(uow.session, data.sku_ids)
    return [s.GateOut(sku_id=r.sku_id, eligible=r.eligible, status=r.status) for r in results]


# -- storefront brand -----------------------------------------------------------------------------


@api.post("/organisations/{slug}/brand", status_code=204)
async def api_brand(
    slug: str,
    uow: Uow,
    ctx: Ctx,
    user: CurrentUser,
    brand_name: Annotated[str | None, Form(max_length=40)] = None,
    logo: Annotated[UploadFile | None, File(description="JPEG, PNG or WebP")] = None,
) -> Response:
    """Owners set the storefront's brand name and logo."""
    data = await _read_upload(logo, MAX_IMAGE_BYTES) if logo is not None else None
    await a.set_brand(
        uow,
        user,
        await org_or_404(uow, slug),
        brand_name=brand_name,
        logo=data,
        media_dir=ctx.settings.resolved_media_dir,
    )
    return Response(status_code=204)
