"""API shapes for the catalog."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from fieldcast.catalog import models as m
from fieldcast.inputs import Id
from fieldcast.web.api import In, Out, text

RegionCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=5, max_length=m.PHONE_MAX, pattern=r"^[0-9+\- ()]+$")
]


# -- suppliers ------------------------------------------------------------------------------------


class SupplierIn(In):
    name: text(2, m.SUPPLIER_NAME_MAX, one_line=True)  # type: ignore[valid-type]
    kind: m.SupplierKind
    ship_from_region: RegionCode
    contact_name: text(1, m.CONTACT_NAME_MAX, one_line=True)  # type: ignore[valid-type]
    contact_phone: Phone
    address: text(0, m.ADDRESS_MAX) = ""  # type: ignore[valid-type]


class SupplierPatch(In):
    name: text(2, m.SUPPLIER_NAME_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    kind: m.SupplierKind | None = None
    ship_from_region: RegionCode | None = None
    contact_name: text(1, m.CONTACT_NAME_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    contact_phone: Phone | None = None
    address: text(0, m.ADDRESS_MAX) | None = None  # type: ignore[valid-type]


class SupplierOut(Out):
    id: int
    organisation_id: int
    name: str
    kind: m.SupplierKind
    ship_from_region: str
    ship_from_name: str = ""
    contact_name: str
    contact_phone: str
    address: str
    is_demo: bool


# -- SKUs -----------------------------------------------------------------------------------------


class SkuIn(In):
    spec_label: text(1, m.SPEC_LABEL_MAX, one_line=True)  # type: ignore[valid-type]
    price_fen: int = Field(gt=0, le=m.MAX_PRICE_FEN, description="Unit price in fen (1 yuan = 100 fen).")
    unit_cost_fen: int | None = Field(
        None, ge=0, le=m.MAX_PRICE_FEN, description="Declared unit cost in fen; organisers only."
    )
    weight_g: int = Field(gt=0, le=m.MAX_WEIGHT_G)
    shelf_life_days: int | None = Field(None, ge=1, le=3650, description="Required for fresh produce.")
    stock: int = Field(0, ge=0, le=m.MAX_STOCK)
    per_buyer_limit: int | None = Field(None, ge=1, le=10_000)
    is_active: bool = True


class SkuPatch(In):
    spec_label: text(1, m.SPEC_LABEL_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    price_fen: int | None = Field(None, gt=0, le=m.MAX_PRICE_FEN)
    unit_cost_fen: int | None = Field(None, ge=0, le=m.MAX_PRICE_FEN)
    weight_g: int | None = Field(None, gt=0, le=m.MAX_WEIGHT_G)
    shelf_life_days: int | None = Field(None, ge=1, le=3650)
    stock: int | None = Field(None, ge=0, le=m.MAX_STOCK)
    per_buyer_limit: int | None = Field(None, ge=1, le=10_000)
    is_active: bool | None = None


class SkuOut(Out):
    id: int
    product_id: int
    spec_label: str
    price_fen: int
    unit_cost_fen: int | None = Field(None, description="Present only for organisers, inspectors, supervisors.")
    weight_g: int
    shelf_life_days: int | None
    stock: int
    available: int = Field(description="Units that can be ordered now (stock less the reserved and sold).")
    per_buyer_limit: int | None
    is_active: bool


# -- products -------------------------------------------------------------------------------------


class ProductIn(In):
    supplier_id: Id
    title: text(2, m.TITLE_MAX, one_line=True)  # type: ignore[valid-type]
    description: text(0, m.DESCRIPTION_MAX) = ""  # type: ignore[valid-type]
    category: m.Category
    origin_region: RegionCode
    skus: list[SkuIn] = Field(default_factory=list, max_length=50)


class ProductPatch(In):
    supplier_id: Id | None = None
    title: text(2, m.TITLE_MAX, one_line=True) | None = None  # type: ignore[valid-type]
    description: text(0, m.DESCRIPTION_MAX) | None = None  # type: ignore[valid-type]
    category: m.Category | None = None
    origin_region: RegionCode | None = None


class PublishIn(In):
    override_reason: text(0, m.REASON_MAX) = Field(  # type: ignore[valid-type]
        "", description="Needed when the claim checker still finds hits; organisers only; audit-logged."
    )


class ClaimHitOut(BaseModel):
    start: int
    end: int
    term: str
    rule: str
    article: str
    suggestion: str
    field: str = Field(description="title or description")


class ImageOut(Out):
    id: int
    url: str
    thumb_url: str
    width: int
    height: int
    alt: str


class InspectionBadge(BaseModel):
    """From the latest inspection that counts (a verified authority's, within its jurisdiction)."""

    status: m.InspectionStatus
    certificate_no: str | None = None
    lab_name: str | None = None
    valid_until: date | None = None
    authority_name: str | None = None
    authority_slug: str | None = None


class ProductOut(BaseModel):
    id: int
    organisation_id: int
    organisation_slug: str
    organisation_name: str
    organisation_kind: str = ""
    # Its kind is a claim (government, inspection authority); verified says whether it was checked.
    organisation_claim: bool = False
    organisation_verified: bool = False
    supplier_id: int
    supplier_name: str
    title: str
    description: str
    category: m.Category
    origin_region: str
    origin_name: str
    status: m.ProductStatus
    published_at: datetime | None
    inspection: InspectionBadge
    skus: list[SkuOut]
    images: list[ImageOut]
    claims: list[ClaimHitOut] = Field(description="Open claim-checker hits in the current text.")
    claim_override_reason: str
    url: str
    is_demo: bool


class ProductSummary(BaseModel):
    id: int
    title: str
    category: m.Category
    origin_region: str
    origin_name: str
    organisation_slug: str
    organisation_name: str
    min_price_fen: int | None
    # The product's only active SKU, so a card can put it in the cart; None when there is a choice.
    sku_id: int | None = None
    sold_out: bool = False
    thumb_url: str | None
    inspection: InspectionBadge
    url: str
    is_demo: bool


# -- inspections ----------------------------------------------------------------------------------


class InspectionIn(In):
    # The inspection authority the inspector acts for (its slug); may be left out when the
    # inspector belongs to one authority only.
    authority: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=48)] | None = None
    sample_date: date
    lab_name: text(2, m.LAB_MAX, one_line=True)  # type: ignore[valid-type]
    certificate_no: text(2, m.CERTIFICATE_MAX, one_line=True)  # type: ignore[valid-type]
    items_checked: list[text(1, m.ITEM_MAX, one_line=True)] = Field(min_length=1, max_length=m.ITEMS_MAX)  # type: ignore[valid-type]
    result: m.InspectionResult
    valid_until: date
    notes: text(0, m.NOTE_MAX) = ""  # type: ignore[valid-type]


class InspectionOut(Out):
    id: int
    product_id: int
    inspector_id: int | None
    sample_date: date
    lab_name: str
    certificate_no: str
    items_checked: list[str]
    result: m.InspectionResult
    valid_until: date
    attachment_url: str | None = None
    notes: str
    created_at: datetime
    authority_id: int | None
    authority_name: str | None = None
    authority_slug: str | None = None
    counts: bool = Field(
        False,
        description="Whether it counts for the badge and the public-welfare gate: recorded for a verified "
        "inspection authority, not the seller, whose jurisdiction covers the product's origin.",
    )


class BrandIn(In):
    brand_name: text(0, 40, one_line=True)  # type: ignore[valid-type]


class GateOut(BaseModel):
    sku_id: int
    eligible: bool
    status: m.InspectionStatus
