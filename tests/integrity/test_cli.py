"""`fieldcast integrity run --session N`: the rules over one show from the command line, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from typer.testing import CliRunner

from fieldcast.cli import cli
from fieldcast.integrity.models import IntegrityAlert
from fieldcast.integrity.rules import MEMBER_BUYER
from tests.conftest import TEST_SECRET
from tests.integrity.world import place, world


async def test_the_command_runs_the_rules_once(
    app: FastAPI, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await world(app)
    async with app.state.ctx.uow() as uow:
        order_id = await place(uow, w, w.people["organiser"], 6900)
    monkeypatch.setenv("FIELDCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIELDCAST_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("FIELDCAST_DATABASE_URL", database_url)
    monkeypatch.setenv("FIELDCAST_REDIS_URL", "")
    runner = CliRunner()

    first = await asyncio.to_thread(runner.invoke, cli, ["integrity", "run", "--session", str(w.session_id)])
    assert first.exit_code == 0, first.output
    assert f"{MEMBER_BUYER} (medium) on order {order_id}" in first.output and "1 new alert" in first.output
    again = await asyncio.to_thread(runner.invoke, cli, ["integrity", "run", "--session", str(w.session_id)])
    assert again.exit_code == 0 and "0 new alert" in again.output
    async with app.state.ctx.uow(write=False) as uow:
        assert await uow.session.scalar(sa.select(sa.func.count(IntegrityAlert.id))) == 1
    missing = await asyncio.to_thread(runner.invoke, cli, ["integrity", "run", "--session", "999999"])
    assert missing.exit_code == 2
