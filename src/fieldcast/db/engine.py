"""The database: engine, and the two kinds of transaction a unit of work runs in.

A *write* transaction on SQLite starts with BEGIN IMMEDIATE, taking the database's one write lock up
front: a transaction that read first and wrote later could otherwise find, at its first write, that
another writer committed since its snapshot, and fail (SQLITE_BUSY) instead of waiting. Waiting at
BEGIN is what serialises writers safely, and what row locks (db/locks.py) rely on there. A *read*
transaction on SQLite holds no snapshot: its reads run on their own, and should it write after all
(a GET that notes when an API token was last used), BEGIN IMMEDIATE is issued just before that
first write. On PostgreSQL both kinds are ordinary transactions; rows are locked with
SELECT ... FOR UPDATE."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from fieldcast.db.uow import OnWritten, OutboxWake, UnitOfWork

WRITE = "fieldcast_write"  # execution option and session info key of write transactions
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the async engine; SQLite gets foreign keys, WAL, a busy timeout and BEGIN we emit."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # The driver's own implicit BEGIN would be DEFERRED; we emit BEGIN ourselves (below).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get(WRITE):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _sqlite_first_write(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
            if (
                not conn.get_execution_options().get(WRITE)
                and statement.lstrip()[:7].upper().startswith(_WRITES)
                and not conn.connection.driver_connection.in_transaction
            ):
                cursor.execute("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def make_sessionmaker(engine: AsyncEngine, *, write: bool = True) -> async_sessionmaker[AsyncSession]:
    """Sessions whose transactions are write transactions (the default) or read-only ones."""
    bind = engine.execution_options(**{WRITE: True}) if write else engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=True, info={WRITE: write})


class Database:
    """One engine and its units of work. `outbox_wake` is called after a commit that wrote to the
    outbox (the relay sets it, so events leave within milliseconds of the commit)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.engine = make_engine(url, **engine_kwargs)
        self.writer = make_sessionmaker(self.engine, write=True)
        self.reader = make_sessionmaker(self.engine, write=False)
        self.outbox_wake: OutboxWake | None = None
        # Told what each committed transaction wrote (bootstrap: the public data version).
        self.on_written: OnWritten | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self, *, write: bool = True) -> UnitOfWork:
        return UnitOfWork(self.writer if write else self.reader, on_outbox=self.outbox_wake, on_written=self.on_written)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def database_status(engine: AsyncEngine) -> dict[str, str]:
    """Round-trip the database for /healthz."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "down" for the health check
        return {"status": "down", "backend": engine.dialect.name, "error": type(exc).__name__}
    return {"status": "ok", "backend": engine.dialect.name}
