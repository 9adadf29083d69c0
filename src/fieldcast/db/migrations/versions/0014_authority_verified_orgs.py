"""authorities: verified organisation kinds and the authority an inspection was made for

Organisations gain their verified kind and jurisdiction; organisation_verifications keeps each
claim (government, inspection authority), its evidence and a platform administrator's decision.
Inspections gain authority_id. Existing inspections keep authority_id NULL: they were recorded by
the seller's own inspectors, so they stay in the table and on the product page but no longer
count for the badge or the public-welfare gate. Existing organisations start unverified.

Revision ID: 0014_authority
Revises: 0013
Create Date: 2026-11-28 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0014_authority"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = fieldcast.db.base.UTCDateTime(timezone=True)
KINDS = ("government", "association", "cooperative", "enterprise", "inspection_authority")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_kind", _enum("orgkind", *KINDS), nullable=True))
        batch_op.add_column(sa.Column("verified_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("jurisdiction_code", sa.String(length=6), server_default="", nullable=False))

    op.create_table(
        "organisation_verifications",
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("kind", _enum("orgkind", *KINDS), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=6), nullable=False),
        sa.Column("evidence_note", sa.String(length=2000), nullable=False),
        sa.Column("requested_by_id", ID, nullable=True),
        sa.Column(
            "status", _enum("orgverificationstatus", "pending", "approved", "rejected", "revoked"), nullable=False
        ),
        sa.Column("decided_by_id", ID, nullable=True),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_verifications_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_organisation_verifications_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_organisation_verifications_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_verifications")),
    )
    with op.batch_alter_table("organisation_verifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_verifications_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_organisation_verifications_status"), ["status"], unique=False)

    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("authority_id", ID, nullable=True))
        batch_op.create_index(batch_op.f("ix_inspections_authority_id"), ["authority_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_inspections_authority_id_organisations"),
            "organisations",
            ["authority_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_inspections_authority_id_organisations"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_inspections_authority_id"))
        batch_op.drop_column("authority_id")

    with op.batch_alter_table("organisation_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_verifications_status"))
        batch_op.drop_index(batch_op.f("ix_organisation_verifications_organisation_id"))
    op.drop_table("organisation_verifications")

    # Inspection authorities have no kind to go back to: they become enterprises (an accredited
    # lab is one), keeping their members.
    op.execute("UPDATE organisations SET kind = 'enterprise' WHERE kind = 'inspection_authority'")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("jurisdiction_code")
        batch_op.drop_column("verified_at")
        batch_op.drop_column("verified_kind")
