"""Tables of the catalog: suppliers, products, images, SKUs and sampling inspections."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldcast.db.base import Base, IdType, Timestamped
from fieldcast.db.types import str_enum

SUPPLIER_NAME_MAX = 100
CONTACT_NAME_MAX = 50
PHONE_MAX = 30
ADDRESS_MAX = 200
TITLE_MAX = 60
DESCRIPTION_MAX = 5000
SPEC_LABEL_MAX = 40
LAB_MAX = 100
CERTIFICATE_MAX = 64
ITEM_MAX = 60
ITEMS_MAX = 30
NOTE_MAX = 1000
REASON_MAX = 500
ALT_MAX = 60  # an image's text alternative
REGION_CODE_LEN = 6
MAX_PRICE_FEN = 10_000_000_000  # 100 million yuan: enough for a light aircraft
MAX_STOCK = 10_000_000
MAX_WEIGHT_G = 10_000_000


class SupplierKind(StrEnum):
    FARMER = "farmer"
    COOPERATIVE = "cooperative"
    FACTORY = "factory"


class Category(StrEnum):
    FRESH_PRODUCE = "fresh_produce"
    PROCESSED_FOOD = "processed_food"
    HANDICRAFT = "handicraft"
    INDUSTRIAL_GOODS = "industrial_goods"
    VEHICLES = "vehicles"
    AIRCRAFT = "aircraft"
    TOURISM_SERVICES = "tourism_services"


FOOD_CATEGORIES = frozenset({Category.FRESH_PRODUCE, Category.PROCESSED_FOOD})


class ProductStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class InspectionResult(StrEnum):
    PASS = "pass"  # noqa: S105 - an inspection result, not a password
    FAIL = "fail"


class InspectionStatus(StrEnum):
    """Derived from the latest inspection; never stored."""

    NONE = "none"
    PASSED = "passed"
    FAILED = "failed"
    EXPIRED = "expired"


class Supplier(Timestamped, Base):
    __tablename__ = "suppliers"

    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(SUPPLIER_NAME_MAX))
    kind: Mapped[SupplierKind] = mapped_column(str_enum(SupplierKind))
    ship_from_region: Mapped[str] = mapped_column(sa.String(REGION_CODE_LEN))
    contact_name: Mapped[str] = mapped_column(sa.String(CONTACT_NAME_MAX))
    contact_phone: Mapped[str] = mapped_column(sa.String(PHONE_MAX))
    address: Mapped[str] = mapped_column(sa.String(ADDRESS_MAX), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)


class Product(Timestamped, Base):
    __tablename__ = "products"

    organisation_id: Mapped[int] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    supplier_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("suppliers.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    description: Mapped[str] = mapped_column(sa.String(DESCRIPTION_MAX), default="")
    category: Mapped[Category] = mapped_column(str_enum(Category), index=True)
    origin_region: Mapped[str] = mapped_column(sa.String(REGION_CODE_LEN), index=True)
    status: Mapped[ProductStatus] = mapped_column(str_enum(ProductStatus), default=ProductStatus.DRAFT, index=True)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when an organiser published despite open claim-checker hits (also in the audit log).
    claim_override_reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    claim_override_by_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    is_demo: Mapped[bool] = mapped_column(default=False)

    skus: Mapped[list[Sku]] = relationship(lazy="raise", order_by="Sku.id")
    images: Mapped[list[ProductImage]] = relationship(lazy="raise", order_by="ProductImage.position")


class ProductImage(Timestamped, Base):
    __tablename__ = "product_images"

    product_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("products.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(sa.String(200))
    thumb_path: Mapped[str] = mapped_column(sa.String(200))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int]
    position: Mapped[int] = mapped_column(default=0)
    alt: Mapped[str] = mapped_column(sa.String(ALT_MAX), default="")


class Sku(Timestamped, Base):
    __tablename__ = "skus"
    __table_args__ = (
        sa.CheckConstraint("price_fen > 0", name="price_positive"),
        sa.CheckConstraint("stock >= 0", name="stock_not_negative"),
        sa.CheckConstraint("weight_g > 0", name="weight_positive"),
        # Every unit is sold, reserved by an unpaid order, or available (catalog/stock.py).
        sa.CheckConstraint("available >= 0 AND reserved >= 0 AND sold >= 0", name="units_not_negative"),
        sa.CheckConstraint("sold + reserved + available = stock", name="units_add_up"),
    )

    product_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("products.id", ondelete="CASCADE"), index=True)
    spec_label: Mapped[str] = mapped_column(sa.String(SPEC_LABEL_MAX))
    price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    # Declared by the organiser; seen only by organisers, inspectors and supervisors.
    unit_cost_fen: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)
    weight_g: Mapped[int] = mapped_column(sa.BigInteger)
    shelf_life_days: Mapped[int | None] = mapped_column(default=None)
    stock: Mapped[int] = mapped_column(default=0)  # all units ever put on sale
    available: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)  # by orders waiting for payment
    sold: Mapped[int] = mapped_column(default=0)
    per_buyer_limit: Mapped[int | None] = mapped_column(default=None)
    is_active: Mapped[bool] = mapped_column(default=True)


class Inspection(Timestamped, Base):
    """A market-supervision sampling inspection of one product.

    It counts for the badge and the public-welfare gate only when its authority is a verified
    inspection authority, other than the product's organisation, whose jurisdiction covers the
    product's origin (catalog.queries.counts)."""

    __tablename__ = "inspections"

    product_id: Mapped[int] = mapped_column(IdType, sa.ForeignKey("products.id", ondelete="CASCADE"), index=True)
    inspector_id: Mapped[int | None] = mapped_column(IdType, sa.ForeignKey("users.id", ondelete="SET NULL"))
    # The verified inspection authority the inspector acted for. None on rows recorded before
    # authorities existed (the seller's own inspectors): kept, shown, but they never count.
    authority_id: Mapped[int | None] = mapped_column(
        IdType, sa.ForeignKey("organisations.id", ondelete="SET NULL"), default=None, index=True
    )
    sample_date: Mapped[date] = mapped_column(sa.Date)
    lab_name: Mapped[str] = mapped_column(sa.String(LAB_MAX))
    certificate_no: Mapped[str] = mapped_column(sa.String(CERTIFICATE_MAX))
    items_checked: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    result: Mapped[InspectionResult] = mapped_column(str_enum(InspectionResult))
    valid_until: Mapped[date] = mapped_column(sa.Date)
    attachment_path: Mapped[str] = mapped_column(sa.String(200), default="")
    notes: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)
