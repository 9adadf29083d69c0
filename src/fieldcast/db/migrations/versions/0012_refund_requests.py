"""after-sales: refund requests and their photos; an order's refund status and refunded fen

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 20:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = fieldcast.db.base.UTCDateTime(timezone=True)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "refund_status",
                _enum("refundstatus", "none", "refunding", "partially_refunded", "refunded"),
                server_default="none",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("refunded_fen", sa.BigInteger(), server_default="0", nullable=False))

    op.create_table(
        "refund_requests",
        sa.Column("order_id", ID, nullable=False),
        sa.Column("order_line_id", ID, nullable=True),
        sa.Column("buyer_id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("supplier_id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=True),
        sa.Column("kind", _enum("refundkind", "refund_only", "return_and_refund"), nullable=False),
        sa.Column(
            "reason",
            _enum(
                "refundreason",
                "damaged",
                "not_as_described",
                "spoiled_on_arrival",
                "too_slow",
                "never_arrived",
                "wrong_item",
                "changed_mind",
                "other",
            ),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            _enum(
                "refundrequeststate",
                "requested",
                "rejected",
                "escalated",
                "closed",
                "awaiting_return",
                "returning",
                "refunding",
                "refunded",
                "refund_failed",
            ),
            nullable=False,
        ),
        sa.Column("order_state_at_request", sa.String(length=32), nullable=False),
        sa.Column("seconds_after_show_end", sa.BigInteger(), nullable=True),
        sa.Column("supplier_reason", sa.String(length=200), nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decided_by", ID, nullable=True),
        sa.Column("escalated_at", WHEN, nullable=True),
        sa.Column("escalation_note", sa.String(length=500), nullable=False),
        sa.Column("organiser_reason", sa.String(length=200), nullable=False),
        sa.Column("arbitrated_at", WHEN, nullable=True),
        sa.Column("arbitrated_by", ID, nullable=True),
        sa.Column("return_carrier", sa.String(length=40), nullable=False),
        sa.Column("return_tracking_no", sa.String(length=40), nullable=False),
        sa.Column("returned_at", WHEN, nullable=True),
        sa.Column("returned_lines", sa.JSON(), nullable=False),
        sa.Column("refund_id", ID, nullable=True),
        sa.Column("refunded_at", WHEN, nullable=True),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_refund_requests_amount_positive")),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_refund_requests_quantity_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refund_requests_order_id_orders"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_refund_requests_order_line_id_order_lines"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["users.id"], name=op.f("fk_refund_requests_buyer_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_refund_requests_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["suppliers.id"],
            name=op.f("fk_refund_requests_supplier_id_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_refund_requests_session_id_live_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_refund_requests_decided_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["arbitrated_by"], ["users.id"], name=op.f("fk_refund_requests_arbitrated_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_refund_requests_refund_id_refunds"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_requests")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_refund_requests_refund_id")),
    )
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_requests_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_requests_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_requests_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_requests_supplier_id"), ["supplier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_requests_session_id"), ["session_id"], unique=False)
        batch_op.create_index("ix_refund_requests_state_created", ["state", "created_at"], unique=False)

    op.create_table(
        "refund_photos",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("thumb_path", sa.String(length=200), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["refund_requests.id"],
            name=op.f("fk_refund_photos_request_id_refund_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_photos")),
    )
    with op.batch_alter_table("refund_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_photos_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refund_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_photos_request_id"))
    op.drop_table("refund_photos")
    with op.batch_alter_table("refund_requests", schema=None) as batch_op:
        for name in ("order_id", "buyer_id", "organisation_id", "supplier_id", "session_id"):
            batch_op.drop_index(batch_op.f(f"ix_refund_requests_{name}"))
        batch_op.drop_index("ix_refund_requests_state_created")
    op.drop_table("refund_requests")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("refunded_fen")
        batch_op.drop_column("refund_status")
