"""Reads of the catalog, including the inspection gate the live rooms call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.accounts.models import CLAIMED_KINDS, Membership, Organisation, OrgKind, Role, User
from fieldcast.accounts.queries import roles_in_org
from fieldcast.catalog import regions
from fieldcast.catalog import schemas as s
from fieldcast.catalog.claims import check_claims
from fieldcast.catalog.errors import NotEligibleForPublicWelfare
from fieldcast.catalog.models import (
    Category,
    Inspection,
    InspectionResult,
    InspectionStatus,
    Product,
    ProductImage,
    ProductStatus,
    Sku,
    Supplier,
)
from fieldcast.i18n import N_

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
# Who may see declared unit costs (besides platform admins).
COST_ROLES = frozenset({Role.OWNER, Role.ORGANISER, Role.INSPECTOR, Role.SUPERVISOR})
MEDIA_URL = "/media"


def today_local(now: datetime | None = None) -> date:
    """Certificates are valid to a calendar date in China: compare in Asia/Shanghai."""
    return (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ).date()


def inspection_status(latest: Inspection | CountedInspection | None, today: date) -> InspectionStatus:
    """The latest inspection decides: failed stays failed, a pass counts until valid_until."""
    if latest is None:
        return InspectionStatus.NONE
    if latest.result == InspectionResult.FAIL:
        return InspectionStatus.FAILED
    if latest.valid_until < today:
        return InspectionStatus.EXPIRED
    return InspectionStatus.PASSED


@dataclass(frozen=True)
class CountedInspection:
    """An inspection that counts, with the authority it was made for."""

    inspection: Inspection
    authority: Organisation

    # The badge and the gate only read these two, as for a bare Inspection.
    @property
    def result(self) -> InspectionResult:
        return self.inspection.result

    @property
    def valid_until(self) -> date:
        return self.inspection.valid_until


def covers(authority: Organisation, region_code: str) -> bool:
    """The authority's verified jurisdiction is `region_code` or a region above it."""
    return bool(authority.jurisdiction_code) and region_code in regions.descendant_codes(authority.jurisdiction_code)


def may_inspect_for(authority: Organisation | None, product: Product) -> bool:
    """Whether `authority` is one whose inspections of `product` count: a verified inspection
    authority, not the product's own organisation, whose jurisdiction covers its origin."""
    return (
        authority is not None
        and authority.is_verified_authority
        and authority.id != product.organisation_id
        and covers(authority, product.origin_region)
    )


async def latest_inspections(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, CountedInspection]:
    """Per product, its latest inspection that counts (see may_inspect_for); products with none
    are left out. Rows of unverified, revoked or out-of-jurisdiction authorities, of the seller
    itself, and those recorded before authorities existed (no authority) are passed over."""
    ids = list(set(product_ids))
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(Inspection, Organisation, Product)
        .join(Organisation, Organisation.id == Inspection.authority_id)
        .join(Product, Product.id == Inspection.product_id)
        .where(
            Inspection.product_id.in_(ids),
            Organisation.kind == OrgKind.INSPECTION_AUTHORITY,
            Organisation.verified_kind == OrgKind.INSPECTION_AUTHORITY,
            Organisation.id != Product.organisation_id,
        )
        .order_by(Inspection.product_id, Inspection.sample_date.desc(), Inspection.id.desc())
    )
    latest: dict[int, CountedInspection] = {}
    for inspection, authority, product in rows:
        if inspection.product_id not in latest and may_inspect_for(authority, product):
            latest[inspection.product_id] = CountedInspection(inspection, authority)
    return latest


def badge(latest: CountedInspection | None, today: date) -> s.InspectionBadge:
    status = inspection_status(latest, today)
    if latest is None:
        return s.InspectionBadge(status=status)
    return s.InspectionBadge(
        status=status,
        certificate_no=latest.inspection.certificate_no,
        lab_name=latest.inspection.lab_name,
        valid_until=latest.inspection.valid_until,
        authority_name=latest.authority.name,
        authority_slug=latest.authority.slug,
    )


async def inspector_organisations(session: AsyncSession, user_id: int) -> list[Organisation]:
    """The organisations in which the user holds the inspector role, by id."""
    rows = await session.scalars(
        sa.select(Organisation)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user_id, Membership.role == Role.INSPECTOR)
        .order_by(Organisation.id)
    )
    return list(rows.unique())


async def authorities_for(session: AsyncSession, viewer: User | None, product: Product) -> list[Organisation]:
    """The viewer's authorities whose inspections of `product` would count."""
    if viewer is None:
        return []
    return [o for o in await inspector_organisations(session, viewer.id) if may_inspect_for(o, product)]


@dataclass(frozen=True)
class GateResult:
    sku_id: int
    status: InspectionStatus

    @property
    def eligible(self) -> bool:
        return self.status == InspectionStatus.PASSED


async def public_welfare_gate(
    session: AsyncSession, sku_ids: Iterable[int], *, today: date | None = None
) -> list[GateResult]:
    """Inspection status per SKU: only PASSED SKUs may go on a public-welfare shelf.

    Unknown SKU ids come back as NONE (not eligible)."""
    ids = list(dict.fromkeys(sku_ids))
    rows = await session.execute(sa.select(Sku.id, Sku.product_id).where(Sku.id.in_(ids)))
    product_of = {sku_id: product_id for sku_id, product_id in rows}
    latest = await latest_inspections(session, product_of.values())
    day = today or today_local()
    return [
        GateResult(
            sku_id,
            inspection_status(latest.get(product_of[sku_id]), day) if sku_id in product_of else InspectionStatus.NONE,
        )
        for sku_id in ids
    ]


async def require_public_welfare_eligible(
    session: AsyncSession, sku_ids: Iterable[int], *, today: date | None = None
) -> None:
    """The one gate the live-room shelf calls: raises unless every SKU passed an unexpired inspection."""
    refused = [r for r in await public_welfare_gate(session, sku_ids, today=today) if not r.eligible]
    if refused:
        raise NotEligibleForPublicWelfare(
            N_(
                "Only products with a passing, unexpired inspection may go on a public-welfare shelf "
                "(not eligible: SKU %(skus)s)."
            ),
            field="sku_ids",
            skus=", ".join(str(r.sku_id) for r in refused),
        )


async def can_see_costs(session: AsyncSession, viewer: User | None, organisation_id: int) -> bool:
    if viewer is None:
        return False
    if viewer.is_platform_admin:
        return True
    return bool(await roles_in_org(session, viewer.id, organisation_id) & COST_ROLES)


def product_claims(product: Product) -> list[s.ClaimHitOut]:
    hits: list[s.ClaimHitOut] = []
    for field, value in (("title", product.title), ("description", product.description)):
        for hit in check_claims(value, category=product.category.value):
            hits.append(
                s.ClaimHitOut(
                    start=hit.start,
                    end=hit.end,
                    term=hit.term,
                    rule=hit.rule,
                    article=hit.article,
                    suggestion=hit.suggestion,
                    field=field,
                )
            )
    return hits


def media_url(path: str) -> str:
    return f"{MEDIA_URL}/{path}" if path else ""


async def load_product(session: AsyncSession, product_id: int) -> Product | None:
    return await session.get(Product, product_id)


async def product_out(
    session: AsyncSession, product: Product, viewer: User | None, *, today: date | None = None
) -> s.ProductOut:
    org = await session.get(Organisation, product.organisation_id)
    supplier = await session.get(Supplier, product.supplier_id)
    skus = (await session.scalars(sa.select(Sku).where(Sku.product_id == product.id).order_by(Sku.id))).all()
    images = (
        await session.scalars(
            sa.select(ProductImage)
            .where(ProductImage.product_id == product.id)
            .order_by(ProductImage.position, ProductImage.id)
        )
    ).all()
    latest = (await latest_inspections(session, [product.id])).get(product.id)
    show_cost = await can_see_costs(session, viewer, product.organisation_id)
    return s.ProductOut(
        id=product.id,
        organisation_id=product.organisation_id,
        organisation_slug=org.slug if org else "",
        organisation_name=org.name if org else "",
        organisation_kind=org.kind.value if org else "",
        organisation_claim=bool(org and org.kind in CLAIMED_KINDS),
        organisation_verified=bool(org and org.is_verified),
        supplier_id=product.supplier_id,
        supplier_name=supplier.name if supplier else "",
        title=product.title,
        description=product.description,
        category=product.category,
        origin_region=product.origin_region,
        origin_name=regions.full_name(product.origin_region),
        status=product.status,
        published_at=product.published_at,
        inspection=badge(latest, today or today_local()),
        skus=[sku_out_for(k, show_cost) for k in skus],
        images=[
            s.ImageOut(
                id=i.id,
                url=media_url(i.path),
                thumb_url=media_url(i.thumb_path),
                width=i.width,
                height=i.height,
                alt=i.alt or product.title,
            )
            for i in images
        ],
        claims=product_claims(product),
        claim_override_reason=product.claim_override_reason,
        url=f"/p/{product.id}",
        is_demo=product.is_demo,
    )


def sku_out_for(sku: Sku, show_cost: bool) -> s.SkuOut:
    out = s.SkuOut.model_validate(sku)
    if not show_cost:
        out.unit_cost_fen = None
    return out


@dataclass(frozen=True)
class ProductFilter:
    q: str | None = None
    region: str | None = None
    category: Category | None = None
    organisation_id: int | None = None
    include_unpublished: bool = False


async def search_products(
    session: AsyncSession, flt: ProductFilter, *, limit: int = 24, offset: int = 0, today: date | None = None
) -> tuple[list[s.ProductSummary], int]:
    """Published products (or all of one organisation's, for its members), newest first."""
    cond: sa.ColumnElement[bool] = sa.true()
    if not flt.include_unpublished:
        cond = Product.status == ProductStatus.PUBLISHED
    if flt.organisation_id is not None:
        cond = sa.and_(cond, Product.organisation_id == flt.organisation_id)
    if flt.category is not None:
        cond = sa.and_(cond, Product.category == flt.category)
    if flt.region:
        cond = sa.and_(cond, Product.origin_region.in_(sorted(regions.descendant_codes(flt.region))))
    if flt.q:
        pattern = "%" + flt.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        cond = sa.and_(
            cond, sa.or_(Product.title.ilike(pattern, escape="\\"), Product.description.ilike(pattern, escape="\\"))
        )
    total = await session.scalar(sa.select(sa.func.count(Product.id)).where(cond)) or 0
    rows = (
        await session.execute(
            sa.select(Product, Organisation.slug, Organisation.name)
            .join(Organisation, Organisation.id == Product.organisation_id)
            .where(cond)
            .order_by(Product.published_at.desc().nulls_last(), Product.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    ids = [p.id for p, _slug, _name in rows]
    active: dict[int, list[tuple[int, int, int]]] = {}  # product -> (sku id, price, available)
    for product_id, sku_id, price_fen, available in await session.execute(
        sa.select(Sku.product_id, Sku.id, Sku.price_fen, Sku.available).where(
            Sku.product_id.in_(ids), Sku.is_active.is_(True)
        )
    ):
        active.setdefault(product_id, []).append((sku_id, price_fen, available))
    thumbs: dict[int, str] = {}
    for image in await session.scalars(
        sa.select(ProductImage).where(ProductImage.product_id.in_(ids)).order_by(ProductImage.position, ProductImage.id)
    ):
        thumbs.setdefault(image.product_id, media_url(image.thumb_path))
    latest = await latest_inspections(session, ids)
    day = today or today_local()
    return [
        s.ProductSummary(
            id=p.id,
            title=p.title,
            category=p.category,
            origin_region=p.origin_region,
            origin_name=regions.full_name(p.origin_region),
            organisation_slug=slug,
            organisation_name=name,
            min_price_fen=min((price for _id, price, _n in active.get(p.id, ())), default=None),
            sku_id=active[p.id][0][0] if len(active.get(p.id, ())) == 1 else None,
            sold_out=p.id in active and all(n <= 0 for _id, _price, n in active[p.id]),
            thumb_url=thumbs.get(p.id),
            inspection=badge(latest.get(p.id), day),
            url=f"/p/{p.id}",
            is_demo=p.is_demo,
        )
        for p, slug, name in rows
    ], total


async def list_suppliers(session: AsyncSession, organisation_id: int) -> Sequence[Supplier]:
    return (
        await session.scalars(
            sa.select(Supplier).where(Supplier.organisation_id == organisation_id).order_by(Supplier.id)
        )
    ).all()


def supplier_out(supplier: Supplier) -> s.SupplierOut:
    out = s.SupplierOut.model_validate(supplier)
    out.ship_from_name = regions.full_name(supplier.ship_from_region)
    return out


async def list_inspections(session: AsyncSession, product_id: int) -> list[s.InspectionOut]:
    """Every inspection of the product, newest first, each saying whether it counts."""
    product = await session.get(Product, product_id)
    rows = await session.execute(
        sa.select(Inspection, Organisation)
        .outerjoin(Organisation, Organisation.id == Inspection.authority_id)
        .where(Inspection.product_id == product_id)
        .order_by(Inspection.sample_date.desc(), Inspection.id.desc())
    )
    out = []
    for row, authority in rows:
        item = s.InspectionOut.model_validate(row)
        item.attachment_url = media_url(row.attachment_path) or None
        if authority is not None:
            item.authority_name = authority.name
            item.authority_slug = authority.slug
        item.counts = product is not None and may_inspect_for(authority, product)
        out.append(item)
    return out
