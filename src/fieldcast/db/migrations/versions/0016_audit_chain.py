"""audit chain: each audit entry carries the hash of the one before; audit_heads per day

Existing entries are chained here, in the order they were written (created_at, then id), each on
the Beijing day of its created_at, so `fieldcast audit verify` passes on an upgraded database.

Revision ID: 0016_audit_chain
Revises: 0015_sessions
Create Date: 2026-11-28 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fieldcast.db.audit_chain import GENESIS, as_utc, chain_day, entry_hash, heads_table, log_table

revision: str = "0016_audit_chain"
down_revision: str | None = "0015_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "audit_heads",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_audit_heads")),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_audit_log_day"), ["day"], unique=False)
        batch.create_unique_constraint("uq_audit_log_day_seq", ["day", "seq"])
    _chain_existing()


def _chain_existing() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            log_table.c.id,
            log_table.c.created_at,
            log_table.c.actor_id,
            log_table.c.action,
            log_table.c.target_type,
            log_table.c.target_id,
            log_table.c.organisation_id,
            log_table.c.reason,
            log_table.c.details,
        ).order_by(log_table.c.created_at, log_table.c.id)
    ).mappings()
    update = (
        log_table.update()
        .where(log_table.c.id == sa.bindparam("b_id"))
        .values(
            day=sa.bindparam("day"),
            seq=sa.bindparam("seq"),
            prev_hash=sa.bindparam("prev_hash"),
            hash=sa.bindparam("hash"),
        )
    )
    heads: dict[object, tuple[str, int]] = {}
    prev, day, seq = GENESIS, None, 0
    batch: list[dict[str, object]] = []
    for row in rows.all():
        row_day = chain_day(as_utc(row["created_at"]))
        if row_day != day:
            day, seq = row_day, 0
        seq += 1
        digest = entry_hash({**row, "day": day, "seq": seq}, prev)
        batch.append({"b_id": row["id"], "day": day, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
        heads[day] = (digest, seq)
        if len(batch) >= BATCH:
            conn.execute(update, batch)
            batch = []
    if batch:
        conn.execute(update, batch)
    if heads:
        conn.execute(heads_table.insert(), [{"day": d, "head_hash": h, "entries": n} for d, (h, n) in heads.items()])


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_day_seq", type_="unique")
        batch.drop_index(batch.f("ix_audit_log_day"))
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
        batch.drop_column("day")
    op.drop_table("audit_heads")
