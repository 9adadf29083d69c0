"""Storage: migrations, UTC timestamps, constraints and the unit of work, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError, StatementError

from fieldcast.accounts.models import Organisation, OrgKind, User
from fieldcast.bootstrap import table_metadata
from fieldcast.config import async_database_url
from fieldcast.db.engine import make_engine
from fieldcast.db.migrate import alembic_config, upgrade
from fieldcast.db.uow import UnitOfWork
from tests.conftest import POSTGRES_URL, _asyncpg_dsn, _with_database


def _user(email: str = "u@example.com") -> User:
    return User(email=email, display_name="U", password_hash="x")


async def test_migrations_reach_head_and_create_every_table(app: FastAPI, database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = app.state.ctx.db.engine
    async with engine.connect() as conn:
        current = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
        tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    assert current == head
    assert set(table_metadata().tables) <= tables


async def test_aware_utc_datetimes_round_trip(app: FastAPI) -> None:
    moment = datetime(2020, 6, 18, 16, 0, 5, 123000, tzinfo=timezone(timedelta(hours=8)))
    async with app.state.ctx.uow() as uow:
        user = _user()
        user.last_sign_in_at = moment
        uow.session.add(user)
    async with app.state.ctx.uow() as uow:
        stored = await uow.session.scalar(sa.select(User.last_sign_in_at))
    assert stored == moment
    assert stored is not None and stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored.hour == 8  # 16:00 in Beijing is 08:00 UTC


async def test_naive_datetimes_are_refused(app: FastAPI) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with app.state.ctx.uow() as uow:
            user = _user()
            user.last_sign_in_at = datetime(2020, 1, 1)
            uow.session.add(user)
            await uow.session.flush()


async def test_unique_email_is_enforced_by_the_database(app: FastAPI) -> None:
    async with app.state.ctx.uow() as uow:
        uow.session.add(_user())
    with pytest.raises(IntegrityError):
        async with app.state.ctx.uow() as uow:
            uow.session.add(_user())


async def test_enum_columns_refuse_unknown_values(app: FastAPI) -> None:
    engine = app.state.ctx.db.engine
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(Organisation).values(
                slug="ok",
                name="OK",
                kind=OrgKind.COOPERATIVE,
                region="",
                description="",
                is_demo=False,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
    with pytest.raises(StatementError):
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(Organisation).values(
                    slug="bad",
                    name="Bad",
                    kind="pirate",
                    region="",
                    description="",
                    is_demo=False,
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
            )


async def test_after_commit_hooks_run_only_after_a_commit(app: FastAPI) -> None:
    seen: list[int] = []
    async with app.state.ctx.uow() as uow:
        user = _user()
        uow.session.add(user)
        await uow.session.flush()

        async def hook() -> None:
            # The row must already be visible to another connection when the hook runs.
            async with app.state.ctx.uow() as other:
                seen.append(len((await other.session.scalars(sa.select(User.id))).all()))

        uow.after_commit(hook)
        assert seen == []
    assert seen == [1]


async def test_a_failed_unit_of_work_rolls_back_and_drops_its_hooks(app: FastAPI) -> None:
    ran: list[str] = []

    async def hook() -> None:
        ran.append("hook")

    with pytest.raises(RuntimeError):
        uow: UnitOfWork
        async with app.state.ctx.uow() as uow:
            uow.session.add(_user())
            uow.after_commit(hook)
            await uow.session.flush()
            raise RuntimeError("boom")
    async with app.state.ctx.uow() as uow:
        assert (await uow.session.scalar(sa.select(sa.func.count(User.id)))) == 0
    assert ran == []


async def test_migrations_go_down_and_up_again(backend: str, tmp_path: object, request: pytest.FixtureRequest) -> None:
    """The whole chain is reversible on this backend, on a database of its own."""
    if backend == "postgres":
        request.getfixturevalue("postgres_url")  # skips/fails like the rest when PostgreSQL is missing
        name = f"fieldcast_mig_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = async_database_url(_with_database(POSTGRES_URL, name))
    else:
        url = async_database_url(f"sqlite:///{tmp_path}/mig.sqlite3")
    try:
        from alembic import command

        await _in_thread(upgrade, url)
        await _in_thread(command.downgrade, alembic_config(url), "base")
        engine = make_engine(url)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        await engine.dispose()
        assert not (set(table_metadata().tables) & tables)
        await _in_thread(upgrade, url)
    finally:
        if backend == "postgres":
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def _in_thread(fn: object, *args: object) -> None:
    import asyncio

    await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]
