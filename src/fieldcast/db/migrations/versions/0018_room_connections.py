"""room_connections and room_figures: what each room socket did, and the viewer figures the room
counters published, for the integrity rules on fake traffic

Revision ID: 0018_room_connections
Revises: 0017_integrity_alerts
Create Date: 2026-11-28 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0018_room_connections"
down_revision: str | None = "0017_integrity_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AT = fieldcast.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "room_connections",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("viewer", sa.String(length=64), nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("ip_net", sa.String(length=49), nullable=False),
        sa.Column("joined_at", AT, nullable=False),
        sa.Column("left_at", AT, nullable=True),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        sa.Column("last_heartbeat_at", AT, nullable=True),
        sa.Column("playing_at", AT, nullable=True),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("flowers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_room_connections")),
    )
    op.create_index("ix_room_connections_session_joined", "room_connections", ["session_id", "joined_at"], unique=False)
    op.create_table(
        "room_figures",
        sa.Column("session_id", ID, autoincrement=False, nullable=False),
        sa.Column("peak_viewers", sa.Integer(), nullable=False),
        sa.Column("unique_viewers", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("flowers", sa.Integer(), nullable=False),
        sa.Column("unissued_connections", sa.Integer(), nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_room_figures")),
    )


def downgrade() -> None:
    op.drop_table("room_figures")
    op.drop_index("ix_room_connections_session_joined", table_name="room_connections")
    op.drop_table("room_connections")
