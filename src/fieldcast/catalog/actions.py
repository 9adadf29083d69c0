"""Writes of the catalog: suppliers, products, SKUs, images, inspections and the storefront brand.

Every action checks the actor's role in the product's organisation, changes state in the caller's
unit of work and writes the audit log."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa

from fieldcast.accounts.models import Organisation, Role, User
from fieldcast.accounts.permissions import require_org_role, require_user
from fieldcast.accounts.queries import roles_in_org
from fieldcast.catalog import errors as e
from fieldcast.catalog import regions
from fieldcast.catalog import schemas as s
from fieldcast.catalog.images import remove_stored, store_image
from fieldcast.catalog.models import (
    ALT_MAX,
    REASON_MAX,
    Category,
    Inspection,
    Product,
    ProductImage,
    ProductStatus,
    Sku,
    Supplier,
)
from fieldcast.catalog.queries import covers, inspector_organisations, may_inspect_for, product_claims, today_local
from fieldcast.catalog.stock import set_stock
from fieldcast.db.audit import record_audit
from fieldcast.db.base import utcnow
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import Invalid, NotAllowed, NotFound
from fieldcast.i18n import N_

MANAGERS = (Role.OWNER, Role.ORGANISER)
EDITORS = (Role.OWNER, Role.ORGANISER, Role.SUPPLIER)
MAX_IMAGES_PER_PRODUCT = 12
MAX_SKUS_PER_PRODUCT = 50
ATTACHMENT_MAX_BYTES = 8 * 1024 * 1024


def _require_region(code: str, field: str) -> None:
    if not regions.is_valid_region(code):
        raise e.UnknownRegion(N_("Choose a region from the list of administrative divisions."), field=field)


def _bounded(text: str, max_length: int, field: str) -> str:
    """`text` trimmed; a longer one than `max_length` is refused on `field`, never cut short."""
    text = text.strip()
    if len(text) > max_length:
        raise Invalid(N_("Must be at most %(max_length)s characters."), field=field, max_length=max_length)
    return text


def _audit(
    uow: UnitOfWork, actor: User, action: str, target: str, target_id: int, org_id: int, **details: object
) -> None:
    record_audit(
        uow,
        actor_id=actor.id,
        action=action,
        target_type=target,
        target_id=target_id,
        organisation_id=org_id,
        details=dict(details),
    )


# -- suppliers ------------------------------------------------------------------------------------


async def create_supplier(
    uow: UnitOfWork, actor: User | None, org: Organisation, data: s.SupplierIn, *, is_demo: bool = False
) -> Supplier:
    await require_org_role(uow.session, actor, org.id, *MANAGERS)
    _require_region(data.ship_from_region, "ship_from_region")
    supplier = Supplier(organisation_id=org.id, is_demo=is_demo, **data.model_dump())
    uow.session.add(supplier)
    await uow.session.flush()
    _audit(uow, require_user(actor), "supplier.create", "supplier", supplier.id, org.id)
    return supplier


async def update_supplier(uow: UnitOfWork, actor: User | None, supplier: Supplier, patch: s.SupplierPatch) -> Supplier:
    await require_org_role(uow.session, actor, supplier.organisation_id, *MANAGERS)
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if "ship_from_region" in changes:
        _require_region(changes["ship_from_region"], "ship_from_region")
    for name, value in changes.items():
        setattr(supplier, name, value)
    _audit(
        uow,
        require_user(actor),
        "supplier.update",
        "supplier",
        supplier.id,
        supplier.organisation_id,
        fields=sorted(changes),
    )
    return supplier


# -- products and SKUs ----------------------------------------------------------------------------


async def _supplier_of(uow: UnitOfWork, org_id: int, supplier_id: int) -> Supplier:
    supplier = await uow.session.get(Supplier, supplier_id)
    if supplier is None or supplier.organisation_id != org_id:
        raise Invalid(N_("Choose one of this organisation's suppliers."), field="supplier_id")
    return supplier


def _check_sku(data: s.SkuIn | s.SkuPatch, category: Category, current: Sku | None, may_set_cost: bool) -> None:
    if data.unit_cost_fen is not None and not may_set_cost:
        raise NotAllowed(N_("Only organisers declare unit costs."), field="unit_cost_fen")
    shelf_life = (
        data.shelf_life_days if data.shelf_life_days is not None else (current.shelf_life_days if current else None)
    )
    if category == Category.FRESH_PRODUCE and shelf_life is None:
        raise e.InvalidSku(N_("Fresh produce needs a shelf life in days."), field="shelf_life_days")


async def _may_set_cost(uow: UnitOfWork, actor: User, org_id: int) -> bool:
    roles = await require_org_role(uow.session, actor, org_id, *EDITORS)
    return actor.is_platform_admin or bool(roles & set(MANAGERS))


async def create_product(
    uow: UnitOfWork, actor: User | None, org: Organisation, data: s.ProductIn, *, is_demo: bool = False
) -> Product:
    user = require_user(actor)
    may_set_cost = await _may_set_cost(uow, user, org.id)
    await _supplier_of(uow, org.id, data.supplier_id)
    _require_region(data.origin_region, "origin_region")
    for index, sku in enumerate(data.skus):
        try:
            _check_sku(sku, data.category, None, may_set_cost)
        except (NotAllowed, e.InvalidSku) as exc:
            exc.field = f"skus.{index}.{exc.field}"
            raise
    product = Product(
        organisation_id=org.id,
        supplier_id=data.supplier_id,
        title=data.title,
        description=data.description,
        category=data.category,
        origin_region=data.origin_region,
        is_demo=is_demo,
    )
    uow.session.add(product)
    await uow.session.flush()
    for sku in data.skus:
        uow.session.add(_new_sku(product.id, sku))
    _audit(uow, user, "product.create", "product", product.id, org.id, skus=len(data.skus))
    return product


async def update_product(uow: UnitOfWork, actor: User | None, product: Product, patch: s.ProductPatch) -> Product:
    """Drafts take any text (hits come back as warnings); a published product's text must stay
    free of claim-checker hits, or the change is refused."""
    user = require_user(actor)
    await require_org_role(uow.session, user, product.organisation_id, *EDITORS)
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if "supplier_id" in changes:
        await _supplier_of(uow, product.organisation_id, changes["supplier_id"])
    if "origin_region" in changes:
        _require_region(changes["origin_region"], "origin_region")
    for name, value in changes.items():
        setattr(product, name, value)
    if product.status == ProductStatus.PUBLISHED and {"title", "description"} & changes.keys():
        hits = product_claims(product)
        if hits:
            raise e.ClaimsNeedOverride(
                N_("The new text has wording the Advertising Law forbids (%(terms)s). Fix it before saving."),
                field=hits[0].field,
                terms="、".join(h.term for h in hits),
            )
        product.claim_override_reason = ""
        product.claim_override_by_id = None
    _audit(uow, user, "product.update", "product", product.id, product.organisation_id, fields=sorted(changes))
    return product


async def add_sku(uow: UnitOfWork, actor: User | None, product: Product, data: s.SkuIn) -> Sku:
    user = require_user(actor)
    may_set_cost = await _may_set_cost(uow, user, product.organisation_id)
    _check_sku(data, product.category, None, may_set_cost)
    count = await uow.session.scalar(sa.select(sa.func.count(Sku.id)).where(Sku.product_id == product.id)) or 0
    if count >= MAX_SKUS_PER_PRODUCT:
        raise e.InvalidSku(N_("A product has at most %(max)s SKUs."), max=MAX_SKUS_PER_PRODUCT)
    sku = _new_sku(product.id, data)
    uow.session.add(sku)
    await uow.session.flush()
    _audit(uow, user, "sku.create", "sku", sku.id, product.organisation_id, product_id=product.id)
    return sku


async def update_sku(uow: UnitOfWork, actor: User | None, product: Product, sku: Sku, patch: s.SkuPatch) -> Sku:
    user = require_user(actor)
    if sku.product_id != product.id:
        raise NotFound(N_("No such SKU."))
    may_set_cost = await _may_set_cost(uow, user, product.organisation_id)
    _check_sku(patch, product.category, sku, may_set_cost)
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    stock = changes.pop("stock", None)
    for name, value in changes.items():
        setattr(sku, name, value)
    if stock is not None:
        await uow.session.refresh(sku)  # the units as they are now, not as loaded
        try:
            set_stock(sku, stock)
        except ValueError:
            raise e.InvalidSku(
                N_("Stock cannot go below the units already sold or awaiting payment (%(n)s)."),
                field="stock",
                n=sku.sold + sku.reserved,
            ) from None
        changes["stock"] = stock
    _audit(uow, user, "sku.update", "sku", sku.id, product.organisation_id, fields=sorted(changes))
    return sku


def _new_sku(product_id: int, data: s.SkuIn) -> Sku:
    """A new SKU: all of its stock is available."""
    values = data.model_dump()
    return Sku(product_id=product_id, available=values["stock"], reserved=0, sold=0, **values)


async def publish_product(uow: UnitOfWork, actor: User | None, product: Product, data: s.PublishIn) -> Product:
    """Put a product on the storefront. Open claim-checker hits need an organiser's written override."""
    user = require_user(actor)
    await require_org_role(uow.session, user, product.organisation_id, *MANAGERS)
    active = await uow.session.scalar(
        sa.select(sa.func.count(Sku.id)).where(Sku.product_id == product.id, Sku.is_active.is_(True))
    )
    if not active:
        raise e.InvalidSku(N_("Add at least one active SKU before publishing."), field="skus")
    hits = product_claims(product)
    reason = data.override_reason.strip()
    if hits and not reason:
        raise e.ClaimsNeedOverride(
            N_(
                "The text has wording the Advertising Law forbids (%(terms)s). Fix it, or give a reason to "
                "publish anyway."
            ),
            field="override_reason",
            terms="、".join(h.term for h in hits),
        )
    product.status = ProductStatus.PUBLISHED
    product.published_at = product.published_at or utcnow()
    product.claim_override_reason = reason if hits else ""
    product.claim_override_by_id = user.id if hits else None
    record_audit(
        uow,
        actor_id=user.id,
        action="product.publish_with_override" if hits else "product.publish",
        target_type="product",
        target_id=product.id,
        organisation_id=product.organisation_id,
        reason=reason if hits else "",
        details={"claims": [h.model_dump() for h in hits]} if hits else {},
    )
    return product


async def withdraw_product(uow: UnitOfWork, actor: User | None, product: Product, reason: str) -> Product:
    """Take a product off sale; the optional reason goes to the audit log."""
    user = require_user(actor)
    await require_org_role(uow.session, user, product.organisation_id, *MANAGERS)
    reason = _bounded(reason, REASON_MAX, "reason")
    product.status = ProductStatus.WITHDRAWN
    record_audit(
        uow,
        actor_id=user.id,
        action="product.withdraw",
        target_type="product",
        target_id=product.id,
        organisation_id=product.organisation_id,
        reason=reason,
    )
    return product


# -- images ---------------------------------------------------------------------------------------


async def add_product_image(
    uow: UnitOfWork, actor: User | None, product: Product, data: bytes, media_dir: Path, *, alt: str = ""
) -> ProductImage:
    user = require_user(actor)
    await require_org_role(uow.session, user, product.organisation_id, *EDITORS)
    alt = _bounded(alt, ALT_MAX, "alt")
    count = (
        await uow.session.scalar(sa.select(sa.func.count(ProductImage.id)).where(ProductImage.product_id == product.id))
        or 0
    )
    if count >= MAX_IMAGES_PER_PRODUCT:
        raise e.BadImage(N_("A product has at most %(max)s images."), field="image", max=MAX_IMAGES_PER_PRODUCT)
    stored = await store_image(data, media_dir, f"products/{product.id}", uploader_id=user.id)
    # A failed transaction must not leave files behind.
    uow.on_rollback(lambda: remove_stored(media_dir, stored.path, stored.thumb_path))
    image = ProductImage(
        product_id=product.id,
        path=stored.path,
        thumb_path=stored.thumb_path,
        width=stored.width,
        height=stored.height,
        size_bytes=stored.size_bytes,
        position=count,
        alt=alt,
    )
    uow.session.add(image)
    await uow.session.flush()
    _audit(uow, user, "product.add_image", "product", product.id, product.organisation_id, image_id=image.id)
    return image


async def remove_product_image(
    uow: UnitOfWork, actor: User | None, product: Product, image_id: int, media_dir: Path
) -> None:
    user = require_user(actor)
    await require_org_role(uow.session, user, product.organisation_id, *EDITORS)
    image = await uow.session.get(ProductImage, image_id)
    if image is None or image.product_id != product.id:
        raise NotFound(N_("No such image."))
    await uow.session.delete(image)
    paths = (image.path, image.thumb_path)

    async def _unlink() -> None:
        remove_stored(media_dir, *paths)

    uow.after_commit(_unlink)
    _audit(uow, user, "product.remove_image", "product", product.id, product.organisation_id, image_id=image_id)


# -- inspections ----------------------------------------------------------------------------------


async def _authority_for(uow: UnitOfWork, user: User, product: Product, slug: str | None) -> Organisation:
    """The authority the inspector acts for: the one named, or their only candidate."""
    mine = await inspector_organisations(uow.session, user.id)
    if slug is not None:
        chosen = next((o for o in mine if o.slug == slug), None)
        if chosen is None:
            raise e.NotAnInspector(N_("You are not an inspector of this inspection authority."), field="authority")
        return chosen
    others = [o for o in mine if o.id != product.organisation_id]
    if not others:
        if mine:  # an inspector of the seller only
            raise e.OwnGoods(N_("A seller cannot inspect its own goods."), field="authority")
        raise e.NotAnInspector(N_("Only inspectors of an inspection authority record inspections."))
    if len(others) == 1:
        return others[0]
    counting = [o for o in others if may_inspect_for(o, product)]
    if len(counting) == 1:
        return counting[0]
    raise e.ChooseAuthority(N_("Choose the inspection authority you inspect for."), field="authority")


async def _require_may_inspect(uow: UnitOfWork, user: User, product: Product, authority: Organisation) -> None:
    """Trust comes from outside the seller: a verified authority, within its jurisdiction."""
    if authority.id == product.organisation_id or await roles_in_org(uow.session, user.id, product.organisation_id):
        raise e.OwnGoods(N_("A seller cannot inspect its own goods."), field="authority")
    if not authority.is_verified_authority:
        raise e.AuthorityNotVerified(
            N_("%(name)s is not a verified inspection authority; its results would not count."),
            field="authority",
            name=authority.name,
        )
    if not covers(authority, product.origin_region):
        raise e.OutsideJurisdiction(
            N_("This product comes from %(origin)s, outside the jurisdiction of %(name)s (%(area)s)."),
            field="authority",
            origin=regions.full_name(product.origin_region),
            name=authority.name,
            area=regions.full_name(authority.jurisdiction_code),
        )


async def record_inspection(
    uow: UnitOfWork,
    actor: User | None,
    product: Product,
    data: s.InspectionIn,
    *,
    today: date | None = None,
    is_demo: bool = False,
) -> Inspection:
    """An inspector of a verified inspection authority records one sampling inspection of a
    product from the authority's jurisdiction. Never the seller's own people, whatever their
    role; platform administrators verify authorities and do not inspect."""
    user = require_user(actor)
    authority = await _authority_for(uow, user, product, data.authority)
    await _require_may_inspect(uow, user, product, authority)
    day = today or today_local()
    if data.sample_date > day:
        raise Invalid(N_("The sample date cannot be in the future."), field="sample_date")
    if data.valid_until < data.sample_date:
        raise Invalid(N_("A result cannot expire before the sample was taken."), field="valid_until")
    inspection = Inspection(
        product_id=product.id,
        inspector_id=user.id,
        authority_id=authority.id,
        sample_date=data.sample_date,
        lab_name=data.lab_name,
        certificate_no=data.certificate_no,
        items_checked=list(data.items_checked),
        result=data.result,
        valid_until=data.valid_until,
        notes=data.notes,
        is_demo=is_demo,
    )
    uow.session.add(inspection)
    await uow.session.flush()
    record_audit(
        uow,
        actor_id=user.id,
        action="inspection.record",
        target_type="product",
        target_id=product.id,
        organisation_id=product.organisation_id,
        details={
            "inspection_id": inspection.id,
            "authority_id": authority.id,
            "result": data.result.value,
            "certificate_no": data.certificate_no,
            "valid_until": data.valid_until.isoformat(),
        },
    )
    return inspection


def _attachment_kind(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "pdf"
    return None


async def attach_inspection_file(
    uow: UnitOfWork, actor: User | None, inspection: Inspection, data: bytes, media_dir: Path
) -> Inspection:
    """The lab report: a PDF, or a photo of it (checked and re-encoded like product images)."""
    user = require_user(actor)
    product = await uow.session.get(Product, inspection.product_id)
    if product is None:
        raise NotFound(N_("No such product."))
    # The authority's inspectors, as for recording; rows without one are not added to.
    if inspection.authority_id is None or Role.INSPECTOR not in await roles_in_org(
        uow.session, user.id, inspection.authority_id
    ):
        raise e.NotAnInspector(N_("Only the inspection authority's inspectors add its report."))
    folder = f"inspections/{inspection.id}"
    if _attachment_kind(data) == "pdf":
        if len(data) > ATTACHMENT_MAX_BYTES:
            raise e.BadImage(N_("Attachments may be at most %(mb)s MB."), field="attachment", mb=8)
        target = media_dir / folder
        target.mkdir(parents=True, exist_ok=True)
        name = f"report-{inspection.id}-{len(data)}.pdf"
        (target / name).write_bytes(data)
        path = f"{folder}/{name}"
    else:
        path = (await store_image(data, media_dir, folder, uploader_id=user.id, field="attachment")).path
    inspection.attachment_path = path
    _audit(uow, user, "inspection.attach", "product", product.id, product.organisation_id, inspection_id=inspection.id)
    return inspection


# -- storefront brand -----------------------------------------------------------------------------


async def set_brand(
    uow: UnitOfWork,
    actor: User | None,
    org: Organisation,
    *,
    brand_name: str | None,
    logo: bytes | None,
    media_dir: Path,
) -> Organisation:
    """The storefront's unified brand: a name over every product and one logo."""
    user = require_user(actor)
    await require_org_role(uow.session, user, org.id, Role.OWNER)
    if brand_name is not None:
        org.brand_name = brand_name
    if logo:
        stored = await store_image(logo, media_dir, f"brands/{org.id}", uploader_id=user.id, field="logo")
        uow.on_rollback(lambda: remove_stored(media_dir, stored.path, stored.thumb_path))
        org.logo_path = stored.thumb_path
    _audit(uow, user, "organisation.brand", "organisation", org.id, org.id, logo=bool(logo))
    return org
