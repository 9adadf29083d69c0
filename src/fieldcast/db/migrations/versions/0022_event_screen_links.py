"""event_screen_links: projector links to an event's big screen (only the token's hash is kept)

Revision ID: 0022_event_screen_links
Revises: 0021_session_minutes
Create Date: 2026-11-28 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0022_event_screen_links"
down_revision: str | None = "0021_session_minutes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = fieldcast.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_screen_links",
        sa.Column("event_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["live_events.id"],
            name=op.f("fk_event_screen_links_event_id_live_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_event_screen_links_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_screen_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_event_screen_links_token_hash")),
    )
    op.create_index(op.f("ix_event_screen_links_event_id"), "event_screen_links", ["event_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_event_screen_links_event_id"), table_name="event_screen_links")
    op.drop_table("event_screen_links")
