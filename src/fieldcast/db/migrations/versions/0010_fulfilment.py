"""fulfilment: shipments with tracking numbers and statuses, shipping deadlines, orders' ship-by

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 20:40:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = fieldcast.db.base.UTCDateTime(timezone=True)
DEFAULT_SHIP_WITHIN_HOURS = 48
TRACKING_STATUS = sa.Enum(
    "shipped",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "exception",
    name="trackingstatus",
    native_enum=False,
    length=32,
)


def upgrade() -> None:
    op.create_table(
        "shipping_policies",
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("ship_within_hours", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_shipping_policies_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_shipping_policies")),
    )
    op.create_table(
        "shipments",
        sa.Column("order_id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("carrier", sa.String(length=12), nullable=False),
        sa.Column("tracking_no", sa.String(length=40), nullable=False),
        sa.Column("shipped_by", ID, nullable=True),
        sa.Column("shipped_at", UTC_TIME, nullable=False),
        sa.Column("status", TRACKING_STATUS, nullable=False),
        sa.Column("status_at", UTC_TIME, nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_shipments_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_shipments_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shipped_by"], ["users.id"], name=op.f("fk_shipments_shipped_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("order_id", name="uq_shipment_order"),
    )
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipments_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shipments_tracking_no"), ["tracking_no"], unique=False)
    op.create_table(
        "tracking_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("shipment_id", ID, nullable=False),
        sa.Column("status", TRACKING_STATUS, nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("happened_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_tracking_events_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
    )
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracking_events_shipment_id"), ["shipment_id"], unique=False)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ship_by", UTC_TIME, nullable=True))
        batch_op.create_index("ix_orders_state_ship_by", ["state", "ship_by"], unique=False)

    # Orders paid before deadlines existed get the default promise (paid_at + 48 hours).
    orders = sa.table("orders", sa.column("id", ID), sa.column("paid_at", UTC_TIME), sa.column("ship_by", UTC_TIME))
    bind = op.get_bind()
    for order_id, paid_at in bind.execute(
        sa.select(orders.c.id, orders.c.paid_at).where(orders.c.paid_at.is_not(None))
    ):
        bind.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(ship_by=paid_at + timedelta(hours=DEFAULT_SHIP_WITHIN_HOURS))
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_state_ship_by")
        batch_op.drop_column("ship_by")
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_events_shipment_id"))
    op.drop_table("tracking_events")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipments_tracking_no"))
        batch_op.drop_index(batch_op.f("ix_shipments_organisation_id"))
    op.drop_table("shipments")
    op.drop_table("shipping_policies")
