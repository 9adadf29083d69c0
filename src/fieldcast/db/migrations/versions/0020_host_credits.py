"""host_credits: what an organisation credited to a person (commission, payout, gift) for a show

Revision ID: 0020_host_credits
Revises: 0018_room_connections
Create Date: 2026-11-28 09:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0020_host_credits"
down_revision: str | None = "0018_room_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "host_credits",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column(
            "kind",
            sa.Enum("commission", "payout", "gift", name="creditkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("created_at", fieldcast.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen > 0 AND amount_fen <= 100000000", name=op.f("ck_host_credits_amount_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_host_credits_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_host_credits_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_host_credits_session_id_live_sessions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_host_credits_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_credits")),
    )
    op.create_index("ix_host_credits_organisation_id_id", "host_credits", ["organisation_id", "id"], unique=False)
    op.create_index(op.f("ix_host_credits_session_id"), "host_credits", ["session_id"], unique=False)
    op.create_index(op.f("ix_host_credits_user_id"), "host_credits", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_host_credits_user_id"), table_name="host_credits")
    op.drop_index(op.f("ix_host_credits_session_id"), table_name="host_credits")
    op.drop_index("ix_host_credits_organisation_id_id", table_name="host_credits")
    op.drop_table("host_credits")
