"""Alembic environment: runs migrations through the async engine on either backend."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from fieldcast.bootstrap import table_metadata
from fieldcast.db.engine import make_engine

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=table_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


url = config.attributes.get("sqlalchemy_url") or config.get_main_option("sqlalchemy.url")
if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `fieldcast migrate`")
asyncio.run(_run_async(str(url)))
