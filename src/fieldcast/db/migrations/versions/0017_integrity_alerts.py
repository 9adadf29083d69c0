"""integrity_alerts: what the integrity rules found, with evidence, and what people decided

Revision ID: 0017_integrity_alerts
Revises: 0016_audit_chain
Create Date: 2026-11-28 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import fieldcast.db.base

revision: str = "0017_integrity_alerts"
down_revision: str | None = "0016_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "integrity_alerts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column(
            "severity",
            sa.Enum("low", "medium", "high", name="severity", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "subject_kind",
            sa.Enum("session", "order", "user", "organisation", name="subjectkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=True),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", fieldcast.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum("open", "acknowledged", "false_alarm", name="alertstate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("decided_by_id", ID, nullable=True),
        sa.Column("decided_at", fieldcast.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_integrity_alerts_decided_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_integrity_alerts_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_integrity_alerts_session_id_live_sessions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrity_alerts")),
        sa.UniqueConstraint("rule", "subject_kind", "subject_id", name="uq_integrity_alert_subject"),
    )
    op.create_index(op.f("ix_integrity_alerts_rule"), "integrity_alerts", ["rule"], unique=False)
    op.create_index(op.f("ix_integrity_alerts_session_id"), "integrity_alerts", ["session_id"], unique=False)
    op.create_index(op.f("ix_integrity_alerts_organisation_id"), "integrity_alerts", ["organisation_id"], unique=False)
    op.create_index(op.f("ix_integrity_alerts_state"), "integrity_alerts", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_integrity_alerts_state"), table_name="integrity_alerts")
    op.drop_index(op.f("ix_integrity_alerts_organisation_id"), table_name="integrity_alerts")
    op.drop_index(op.f("ix_integrity_alerts_session_id"), table_name="integrity_alerts")
    op.drop_index(op.f("ix_integrity_alerts_rule"), table_name="integrity_alerts")
    op.drop_table("integrity_alerts")
