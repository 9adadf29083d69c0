"""shelf item ids are never reused (SQLite AUTOINCREMENT)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 19:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite reuses the id of the newest deleted row unless the table is AUTOINCREMENT; a shelf
    # item added after one was removed would inherit its per-buyer tallies. PostgreSQL's
    # sequences never reuse ids: nothing to do there.
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "shelf_items", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ) as batch_op:
            batch_op.alter_column("id")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "shelf_items", recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ) as batch_op:
            batch_op.alter_column("id")
