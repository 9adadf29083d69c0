"""The whole API, fuzzed from its own description (/openapi.json) by schemathesis: no operation
answers 5xx to any input, and every response keeps the documented status codes, content types
and schemas. Once anonymous, once with a bearer token (README, "API fuzzing", states the
settings). A failure prints schemathesis' report with a curl line that reproduces it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD
from tests.media.conftest import Served, fresh_app, media_settings, serve

pytestmark = pytest.mark.timeout(240)

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
EXAMPLES_PER_OPERATION = 3
SECONDS_PER_PASS = 40
SEED = int(os.environ.get("FIELDCAST_SCHEMATHESIS_SEED", "14"))
# Operations that end the bearer token the authenticated pass is using; the anonymous pass
# still fuzzes them.
ENDS_THE_TOKEN = ("/api/v1/auth/signout-everywhere", "/api/v1/me/password", "/api/v1/me/tokens/{token_id}")


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    settings = media_settings(database_url, tmp_path)
    app = await fresh_app(settings)
    async with serve(app, settings) as s:
        # FastAPI builds the description on first request, slowly on a busy machine: not on
        # schemathesis' clock.
        async with httpx.AsyncClient(base_url=s.base_url, timeout=60) as client:
            assert (await client.get("/openapi.json")).status_code == 200
        yield s


async def bearer_token(served: Served) -> str:
    client = served.client()
    body = {"email": "fuzz@example.com", "display_name": "Fuzz", "password": PASSWORD}
    assert (await client.post("/api/v1/auth/signup", json=body)).status_code == 201
    r = await client.post(
        "/api/v1/auth/token", json={"email": body["email"], "password": PASSWORD, "token_name": "schemathesis"}
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


async def schemathesis(served: Served, cwd: Path, *extra: str) -> tuple[int, str]:
    """`st run` over the served app's /openapi.json; its exit code and report."""
    st = Path(sys.executable).with_name("st")
    process = await asyncio.create_subprocess_exec(
        str(st),
        "run",
        f"{served.base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--max-time",
        str(SECONDS_PER_PASS),
        "--phases",
        "examples,fuzzing",
        "--seed",
        str(SEED),
        # One worker: hypothesis parses lambdas with ast in each thread, which CPython 3.11.7 can
        # trip over ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-shrink",
        *extra,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "120"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), SECONDS_PER_PASS + 60)
    return await process.wait(), output.decode(errors="replace")


async def test_the_api_keeps_its_description_anonymous_and_signed_in(served: Served, tmp_path: Path) -> None:
    """Both passes at once (the server waits on the database more than it computes)."""
    token = await bearer_token(served)
    excluded = [arg for path in ENDS_THE_TOKEN for arg in ("--exclude-path", path)]
    (tmp_path / "anonymous").mkdir()
    (tmp_path / "bearer").mkdir()
    (anonymous, anonymous_report), (bearer, bearer_report) = await asyncio.gather(
        schemathesis(served, tmp_path / "anonymous"),
        schemathesis(served, tmp_path / "bearer", "--header", f"Authorization: Bearer {token}", *excluded),
    )
    assert anonymous == 0, "anonymous pass:\n" + anonymous_report[-12_000:]
    assert bearer == 0, "bearer pass:\n" + bearer_report[-12_000:]
    for report in (anonymous_report, bearer_report):
        assert "Runtime Error" not in report, report[-12_000:]
    async with httpx.AsyncClient(base_url=served.base_url) as client:  # the bearer pass ran signed in
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
