"""The audit log's hash chain (db/audit_chain.py): entries chain as they commit, on SQLite and
PostgreSQL, concurrent appends never fork it, and `fieldcast audit verify` names the first entry
changed, deleted or inserted directly in the database."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from datetime import date, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from typer.testing import CliRunner

from fieldcast.cli import cli
from fieldcast.config import async_database_url
from fieldcast.db.audit import AuditEntry, AuditHead, record_audit
from fieldcast.db.audit_chain import GENESIS, entry_hash, verify_chain
from fieldcast.db.engine import make_engine
from fieldcast.db.migrate import alembic_config, upgrade
from tests.conftest import POSTGRES_URL, TEST_SECRET, _asyncpg_dsn, _with_database


async def _act(app: FastAPI, n: int = 1, *, reason: str = "", pause: float = 0.0) -> list[int]:
    async with app.state.ctx.uow() as uow:
        entries = [
            record_audit(
                uow,
                actor_id=None,
                action="test.act",
                target_type="thing",
                target_id=i,
                reason=reason or f"because {i}",
                details={"i": i, "名": "蓝莓", "nested": {"b": 1, "a": [1, 2]}},
            )
            for i in range(n)
        ]
        await uow.session.flush()
        if pause:
            await asyncio.sleep(pause)  # hold the transaction open while others append
        return [e.id for e in entries]


async def _chain(app: FastAPI) -> list[AuditEntry]:
    async with app.state.ctx.uow(write=False) as uow:
        return list(await uow.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.day, AuditEntry.seq)))


async def _verify(app: FastAPI, day: date | None = None):  # type: ignore[no-untyped-def]
    async with app.state.ctx.db.engine.connect() as conn:
        return await conn.run_sync(lambda c: verify_chain(c, day=day))


async def test_entries_chain_as_they_commit(app: FastAPI) -> None:
    await _act(app, 2)
    await _act(app, 1)
    await _act(app, 3)
    chain = await _chain(app)
    assert len(chain) == 6
    today = chain[0].day
    assert today is not None and all(e.day == today for e in chain)
    assert [e.seq for e in chain] == [1, 2, 3, 4, 5, 6]
    assert chain[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.hash
    for entry in chain:  # each hash is recomputable from the entry's own content
        row = {c: getattr(entry, c) for c in ("created_at", "actor_id", "action", "target_type", "target_id")}
        row |= {"organisation_id": entry.organisation_id, "reason": entry.reason, "details": entry.details}
        row |= {"day": entry.day, "seq": entry.seq}
        assert entry.prev_hash is not None and entry_hash(row, entry.prev_hash) == entry.hash
    async with app.state.ctx.uow(write=False) as uow:
        heads = list(await uow.session.scalars(sa.select(AuditHead)))
    assert [(h.day, h.head_hash, h.entries) for h in heads] == [(today, chain[-1].hash, 6)]
    report = await _verify(app)
    assert report.ok, report.problems
    assert (report.entries, report.days) == (6, 1)


async def test_a_rolled_back_action_leaves_no_entry_and_no_head(app: FastAPI) -> None:
    with pytest.raises(RuntimeError):
        async with app.state.ctx.uow() as uow:
            record_audit(uow, actor_id=None, action="test.act", target_type="thing", target_id=1)
            await uow.session.flush()
            raise RuntimeError("boom")
    await _act(app, 1)
    chain = await _chain(app)
    assert [(e.seq, e.prev_hash) for e in chain] == [(1, GENESIS)]
    assert (await _verify(app)).ok


async def test_a_new_day_chains_from_the_previous_days_head(app: FastAPI) -> None:
    await _act(app, 2)
    today = (await _chain(app))[0].day
    assert today is not None
    # Move the first two entries (and their head) to yesterday, re-chained as they would have been.
    async with app.state.ctx.db.engine.begin() as conn:
        rows = (await conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq"))).mappings().all()
        yesterday = date.fromordinal(today.toordinal() - 1)
        prev = GENESIS
        for row in rows:
            digest = entry_hash({**row, "day": yesterday}, prev)
            await conn.execute(
                sa.text("UPDATE audit_log SET day = :d, prev_hash = :p, hash = :h WHERE id = :i"),
                {"d": yesterday, "p": prev, "h": digest, "i": row["id"]},
            )
            prev = digest
        await conn.execute(sa.text("UPDATE audit_heads SET day = :d, head_hash = :h"), {"d": yesterday, "h": prev})
    await _act(app, 1)
    chain = await _chain(app)
    assert [(e.day, e.seq) for e in chain] == [(yesterday, 1), (yesterday, 2), (today, 1)]
    assert chain[2].prev_hash == chain[1].hash
    assert (await _verify(app)).ok
    assert (await _verify(app, today)).entries == 1
    assert (await _verify(app, today)).ok


async def test_concurrent_appends_never_fork_the_chain(app: FastAPI) -> None:
    """20 actions commit at once (on PostgreSQL truly in parallel, each holding its transaction
    open a moment after inserting its entries): one chain, seq 1…N, every link right."""
    results = await asyncio.gather(*(_act(app, 1 + i % 2, pause=0.02) for i in range(20)))
    ids = sorted(i for r in results for i in r)
    chain = await _chain(app)
    assert sorted(e.id for e in chain) == ids
    assert [e.seq for e in chain] == list(range(1, len(ids) + 1))
    assert chain[0].prev_hash == GENESIS
    assert all(after.prev_hash == before.hash for before, after in itertools.pairwise(chain))
    # each transaction's entries are consecutive in the chain
    positions = {e.id: e.seq for e in chain}
    for r in results:
        seqs = sorted(positions[i] for i in r)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    report = await _verify(app)
    assert report.ok, report.problems


# --- fieldcast audit verify ---------------------------------------------------------------------


@pytest.fixture
def verify_cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FIELDCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIELDCAST_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("FIELDCAST_DATABASE_URL", database_url)
    monkeypatch.setenv("FIELDCAST_REDIS_URL", "")

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["audit", "verify", *args])

    return run


async def _five(app: FastAPI) -> list[AuditEntry]:
    for _ in range(5):
        await _act(app, 1)
    chain = await _chain(app)
    assert len(chain) == 5
    return chain


async def _sql(app: FastAPI, statement: str, **params: object) -> None:
    async with app.state.ctx.db.engine.begin() as conn:
        await conn.execute(sa.text(statement), params)


async def test_verify_passes_on_an_intact_log(app: FastAPI, verify_cli) -> None:  # type: ignore[no-untyped-def]
    chain = await _five(app)
    result = await asyncio.to_thread(verify_cli)
    assert result.exit_code == 0, result.output
    assert "intact: 5 entries over 1 day" in result.output
    day = chain[0].day
    assert day is not None
    result = await asyncio.to_thread(verify_cli, "--day", day.isoformat())
    assert result.exit_code == 0 and "5 entries" in result.output
    assert (await asyncio.to_thread(verify_cli, "--day", "28/11/2026")).exit_code == 2


async def test_verify_names_a_changed_entry(app: FastAPI, verify_cli) -> None:  # type: ignore[no-untyped-def]
    chain = await _five(app)
    await _sql(app, "UPDATE audit_log SET reason = 'nothing to see' WHERE id = :i", i=chain[2].id)
    result = await asyncio.to_thread(verify_cli)
    assert result.exit_code == 1
    assert f"first bad entry is id {chain[2].id} of day {chain[2].day}" in result.output
    assert "changed" in result.output.splitlines()[0]


async def test_verify_names_the_entry_after_a_deleted_one(app: FastAPI, verify_cli) -> None:  # type: ignore[no-untyped-def]
    chain = await _five(app)
    await _sql(app, "DELETE FROM audit_log WHERE id = :i", i=chain[1].id)
    result = await asyncio.to_thread(verify_cli)
    assert result.exit_code == 1
    assert f"first bad entry is id {chain[2].id} of day {chain[2].day}" in result.output
    assert "deleted or inserted before it" in result.output.splitlines()[0]


async def test_verify_sees_the_last_entry_deleted(app: FastAPI, verify_cli) -> None:  # type: ignore[no-untyped-def]
    chain = await _five(app)
    await _sql(app, "DELETE FROM audit_log WHERE id = :i", i=chain[4].id)
    result = await asyncio.to_thread(verify_cli)
    assert result.exit_code == 1
    assert f"head of day {chain[0].day}" in result.output and "says 5 entries" in result.output


async def test_verify_names_an_inserted_entry(app: FastAPI, verify_cli) -> None:  # type: ignore[no-untyped-def]
    chain = await _five(app)
    # Shift the later entries along and slip a forged one in at seq 3, with a plausible hash.
    await _sql(app, "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3")
    await _sql(app, "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100")
    forged = {
        "created_at": chain[1].created_at,
        "actor_id": None,
        "action": "test.act",
        "target_type": "thing",
        "target_id": "0",
        "organisation_id": None,
        "reason": "forged",
        "details": {},
        "day": chain[0].day,
        "seq": 3,
    }
    assert chain[1].hash is not None
    await _sql(
        app,
        "INSERT INTO audit_log (created_at, action, target_type, target_id, reason, details, day, seq, prev_hash, hash)"
        " VALUES (:created_at, 'test.act', 'thing', '0', 'forged', '{}', :day, 3, :prev, :hash)",
        created_at=chain[1].created_at.replace(tzinfo=None)
        if app.state.ctx.db.dialect == "sqlite"
        else chain[1].created_at,
        day=chain[0].day,
        prev=chain[1].hash,
        hash=entry_hash(forged, chain[1].hash),
    )
    result = await asyncio.to_thread(verify_cli)
    assert result.exit_code == 1
    # the forged entry itself is well formed; the one after it no longer chains
    assert f"first bad entry is id {chain[2].id} of day {chain[2].day}" in result.output


async def test_verify_names_an_entry_inserted_outside_the_chain(app: FastAPI, verify_cli) -> None:  # type: ignore[no-untyped-def]
    await _five(app)
    await _sql(
        app,
        "INSERT INTO audit_log (created_at, action, target_type, target_id, reason, details)"
        " VALUES (CURRENT_TIMESTAMP, 'test.act', 'thing', '9', 'slipped in', '{}')",
    )
    async with app.state.ctx.db.engine.connect() as conn:
        new_id = (await conn.execute(sa.text("SELECT max(id) FROM audit_log"))).scalar_one()
    result = await asyncio.to_thread(verify_cli)
    assert result.exit_code == 1
    assert f"first bad entry is id {new_id} of day" in result.output and "not in the chain" in result.output


# --- the migration chains what was there -------------------------------------------------------------


async def test_the_migration_chains_existing_entries(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from alembic import command

    if backend == "postgres":
        request.getfixturevalue("postgres_url")
        name = f"fieldcast_chain_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = async_database_url(_with_database(POSTGRES_URL, name))
    else:
        url = async_database_url(f"sqlite:///{tmp_path}/chain.sqlite3")
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0015_sessions")
        engine = make_engine(url)
        async with engine.begin() as conn:
            for i, moment in enumerate(
                ["2026-11-26 15:59:59", "2026-11-26 16:00:01", "2026-11-27 01:00:00", "2026-11-26 17:00:00"]
            ):
                await conn.execute(
                    sa.text(
                        "INSERT INTO audit_log (created_at, action, target_type, target_id, reason, details)"
                        " VALUES (:t, 'old.act', 'thing', :i, 'r', :d)"
                    ),
                    {
                        "t": moment if backend == "sqlite" else datetime.fromisoformat(moment + "+00:00"),
                        "i": str(i),
                        "d": '{"k": "值"}',
                    },
                )
        await asyncio.to_thread(upgrade, url)
        async with engine.connect() as conn:
            report = await conn.run_sync(lambda c: verify_chain(c))
            rows = (await conn.execute(sa.text("SELECT target_id, day, seq FROM audit_log ORDER BY day, seq"))).all()
        await engine.dispose()
        assert report.ok, report.problems
        # 15:59:59 UTC is 23:59:59 in Beijing on the 26th; 16:00:01 UTC is the 27th there
        assert [(r[0], str(r[1]), r[2]) for r in rows] == [
            ("0", "2026-11-26", 1),
            ("1", "2026-11-27", 1),
            ("3", "2026-11-27", 2),
            ("2", "2026-11-27", 3),
        ]
    finally:
        if backend == "postgres":
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


# --- the published heads ------------------------------------------------------------------------------


async def test_heads_are_published_to_anyone(app: FastAPI, client: httpx.AsyncClient) -> None:
    await _act(app, 3)
    chain = await _chain(app)
    day, head = chain[-1].day, chain[-1].hash
    assert day is not None and head is not None
    answer = await client.get("/api/v1/audit/heads")
    assert answer.status_code == 200
    body = answer.json()
    assert body["timezone"] == "Asia/Shanghai" and body["genesis"] == GENESIS
    assert body["items"] == [{"day": day.isoformat(), "head_hash": head, "entries": 3}]
    earlier = date.fromordinal(day.toordinal() - 3).isoformat()
    answer = await client.get("/api/v1/audit/heads", params={"from": earlier, "to": earlier})
    assert answer.status_code == 200 and answer.json()["items"] == []
    page = await client.get("/audit")
    assert page.status_code == 200
    assert head in page.text and day.isoformat() in page.text
    assert 'href="/audit"' in (await client.get("/")).text  # linked from the footer


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-05", "to": "2026-11-01"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),
        ({"from": "yesterday"}, "from"),
    ],
)
async def test_heads_refuse_a_bad_range(client: httpx.AsyncClient, params: dict[str, str], field: str) -> None:
    answer = await client.get("/api/v1/audit/heads", params=params)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_verify_against_a_kept_copy_catches_a_log_rewritten_whole(
    app: FastAPI,
    client: httpx.AsyncClient,
    verify_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    chain = await _five(app)
    kept = tmp_path / "heads.json"
    kept.write_text((await client.get("/api/v1/audit/heads")).text, encoding="utf-8")
    assert (await asyncio.to_thread(verify_cli, "--against", str(kept))).exit_code == 0
    # Someone with the database rewrites entry 2 and recomputes every hash after it, and the head.
    await _sql(app, "UPDATE audit_log SET reason = 'rewritten' WHERE id = :i", i=chain[1].id)
    async with app.state.ctx.db.engine.begin() as conn:
        rows = (await conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq"))).mappings().all()
        prev = GENESIS
        for row in rows:
            digest = entry_hash(row, prev)
            await conn.execute(
                sa.text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :i"),
                {"p": prev, "h": digest, "i": row["id"]},
            )
            prev = digest
        await conn.execute(sa.text("UPDATE audit_heads SET head_hash = :h"), {"h": prev})
    assert (await asyncio.to_thread(verify_cli)).exit_code == 0  # undetectable from the database alone
    result = await asyncio.to_thread(verify_cli, "--against", str(kept))
    assert result.exit_code == 1
    assert f"head of day {chain[0].day}" in result.output and "published earlier" in result.output
    kept.write_text("{}", encoding="utf-8")
    assert (await asyncio.to_thread(verify_cli, "--against", str(kept))).exit_code == 2


async def test_a_savepoint_rolled_back_keeps_the_outer_entries_sealed(app: FastAPI) -> None:
    async with app.state.ctx.uow() as uow:
        record_audit(uow, actor_id=None, action="test.outer", target_type="thing", target_id=1)
        await uow.session.flush()
        with pytest.raises(RuntimeError):
            async with uow.session.begin_nested():
                record_audit(uow, actor_id=None, action="test.inner", target_type="thing", target_id=2)
                await uow.session.flush()
                raise RuntimeError("boom")
    chain = await _chain(app)
    assert [(e.action, e.seq) for e in chain] == [("test.outer", 1)]
    assert (await _verify(app)).ok


async def test_the_entry_in_memory_says_where_it_was_chained(app: FastAPI) -> None:
    async with app.state.ctx.uow() as uow:
        entry = record_audit(uow, actor_id=None, action="test.act", target_type="thing", target_id=1)
    assert (entry.seq, entry.prev_hash) == (1, GENESIS)
    (stored,) = await _chain(app)
    assert (entry.day, entry.hash) == (stored.day, stored.hash)
