"""Run Alembic migrations programmatically (`fieldcast migrate`), on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(sqlalchemy_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["sqlalchemy_url"] = sqlalchemy_url
    return cfg


def upgrade(sqlalchemy_url: str, revision: str = "head") -> None:
    """Bring the database to `revision`; creates the SQLite file's folder if needed."""
    if sqlalchemy_url.startswith("sqlite") and ":///" in sqlalchemy_url:
        path = sqlalchemy_url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(sqlalchemy_url), revision)


async def upgrade_async(sqlalchemy_url: str, revision: str = "head") -> None:
    """Same as upgrade(), from inside a running event loop (Alembic's env runs its own)."""
    await asyncio.to_thread(upgrade, sqlalchemy_url, revision)
