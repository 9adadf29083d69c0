"""session_minutes and analytics_marks: a show's figures minute by minute, and the roll-up's marks;
indexes the roll-up reads by

Revision ID: 0021_session_minutes
Revises: 0020_host_credits
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0021_session_minutes"
down_revision: str | None = "0020_host_credits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = fieldcast.db.base.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "session_minutes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("minute", WHEN, nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.Column("unique_viewers", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("flowers", sa.BigInteger(), nullable=False),
        sa.Column("watch_s", sa.Float(), nullable=False),
        sa.Column("comments", sa.Integer(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("gmv_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_orders", sa.Integer(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("coupon_claims", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_session_minutes_session_id_live_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_minutes")),
        sa.UniqueConstraint("session_id", "minute", name="uq_session_minute"),
    )
    op.create_table(
        "analytics_marks",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("read_to", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_analytics_marks")),
    )
    op.create_index("ix_orders_updated_at", "orders", ["updated_at"])
    op.create_index("ix_orders_session_id_created_at", "orders", ["session_id", "created_at"])
    op.create_index("ix_chat_messages_created_at", "chat_messages", ["created_at"])
    op.create_index("ix_chat_messages_session_id_created_at", "chat_messages", ["session_id", "created_at"])
    op.create_index(op.f("ix_coupon_claims_claimed_at"), "coupon_claims", ["claimed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_coupon_claims_claimed_at"), table_name="coupon_claims")
    op.drop_index("ix_chat_messages_session_id_created_at", table_name="chat_messages")
    op.drop_index("ix_chat_messages_created_at", table_name="chat_messages")
    op.drop_index("ix_orders_session_id_created_at", table_name="orders")
    op.drop_index("ix_orders_updated_at", table_name="orders")
    op.drop_table("analytics_marks")
    op.drop_table("session_minutes")
