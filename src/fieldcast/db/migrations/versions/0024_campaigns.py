"""campaigns and campaign_organisations: a drive across organisations, and who takes part

Revision ID: 0024_campaigns
Revises: 0023_clips
Create Date: 2026-11-28 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0024_campaigns"
down_revision: str | None = "0023_clips"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = fieldcast.db.base.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("slug", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("starts_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_campaigns_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_campaigns_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("slug", name=op.f("uq_campaigns_slug")),
    )
    op.create_index(op.f("ix_campaigns_organisation_id"), "campaigns", ["organisation_id"])
    op.create_table(
        "campaign_organisations",
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("added_by_id", ID, nullable=True),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_organisations_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_campaign_organisations_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name=op.f("fk_campaign_organisations_added_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_organisations")),
        sa.UniqueConstraint("campaign_id", "organisation_id", name="uq_campaign_organisation"),
    )
    op.create_index(op.f("ix_campaign_organisations_campaign_id"), "campaign_organisations", ["campaign_id"])
    op.create_index(op.f("ix_campaign_organisations_organisation_id"), "campaign_organisations", ["organisation_id"])


def downgrade() -> None:
    op.drop_table("campaign_organisations")
    op.drop_table("campaigns")
