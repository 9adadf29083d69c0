"""clips, clip_views and clip_orders: shoppable clips cut from replays, their views (one per
viewer per window) and the orders placed from them

Revision ID: 0023_clips
Revises: 0022_event_screen_links
Create Date: 2026-11-28 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0023_clips"
down_revision: str | None = "0022_event_screen_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = fieldcast.db.base.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "clips",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("slug", sa.String(length=12), nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("sku_id", ID, nullable=False),
        sa.Column("mark_id", ID, nullable=True),
        sa.Column("title", sa.String(length=60), nullable=False),
        sa.Column("requested_start_s", sa.Float(), nullable=False),
        sa.Column("requested_end_s", sa.Float(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column(
            "state",
            sa.Enum("pending", "cutting", "ready", "failed", name="clipstate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("error", sa.String(length=200), nullable=False),
        sa.Column("video_path", sa.String(length=200), nullable=False),
        sa.Column("poster_path", sa.String(length=200), nullable=False),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("deleted_at", WHEN, nullable=True),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.CheckConstraint("requested_end_s > requested_start_s", name=op.f("ck_clips_end_after_start")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["live_sessions.id"], name=op.f("fk_clips_session_id_live_sessions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_clips_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_clips_sku_id_skus"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["mark_id"], ["product_marks.id"], name=op.f("fk_clips_mark_id_product_marks"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_clips_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clips")),
        sa.UniqueConstraint("slug", name=op.f("uq_clips_slug")),
    )
    op.create_index(op.f("ix_clips_session_id"), "clips", ["session_id"])
    op.create_index(op.f("ix_clips_organisation_id"), "clips", ["organisation_id"])
    op.create_index(op.f("ix_clips_sku_id"), "clips", ["sku_id"])
    op.create_index("ix_clips_state_lease_until", "clips", ["state", "lease_until"])
    op.create_table(
        "clip_views",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("clip_id", ID, nullable=False),
        sa.Column("viewer_key", sa.String(length=64), nullable=False),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("viewed_at", WHEN, nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clip_id"], ["clips.id"], name=op.f("fk_clip_views_clip_id_clips"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clip_views")),
        sa.UniqueConstraint("clip_id", "viewer_key", "window_start", name="uq_clip_view"),
    )
    op.create_index(op.f("ix_clip_views_clip_id"), "clip_views", ["clip_id"])
    op.create_table(
        "clip_orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("clip_id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["clip_id"], ["clips.id"], name=op.f("fk_clip_orders_clip_id_clips"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_clip_orders_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clip_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_clip_orders_order_id")),
    )
    op.create_index(op.f("ix_clip_orders_clip_id"), "clip_orders", ["clip_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_clip_orders_clip_id"), table_name="clip_orders")
    op.drop_table("clip_orders")
    op.drop_index(op.f("ix_clip_views_clip_id"), table_name="clip_views")
    op.drop_table("clip_views")
    op.drop_index("ix_clips_state_lease_until", table_name="clips")
    op.drop_index(op.f("ix_clips_sku_id"), table_name="clips")
    op.drop_index(op.f("ix_clips_organisation_id"), table_name="clips")
    op.drop_index(op.f("ix_clips_session_id"), table_name="clips")
    op.drop_table("clips")
