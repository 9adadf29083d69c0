"""What a stranger can reach (issue 20, item 8): the API description and its docs page can be
turned off (FIELDCAST_API_DOCS=false), and everything under /hooks/ answers only to the media
hook secret: any path, any method, without it, gets the same plain 403 and nothing more."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.media.conftest import fresh_app, media_settings
from tests.media.test_hooks import LOOPBACK, REMOTE, caller, nginx_form, running

HOOK_SECRET = "surface-hook-secret-value"


@pytest.mark.parametrize(("api_docs", "status"), [(True, 200), (False, 404)])
async def test_api_docs_and_openapi_follow_the_setting(
    api_docs: bool, status: int, database_url: str, tmp_path: Path
) -> None:
    app = await fresh_app(media_settings(database_url, tmp_path, api_docs=api_docs))
    async with app.router.lifespan_context(app), caller(app) as client:
        docs = await client.get("/api/docs")
        spec = await client.get("/openapi.json")
        assert (docs.status_code, spec.status_code) == (status, status)
        if api_docs:
            assert spec.json()["info"]["title"] == "Fieldcast API"
        else:
            assert '"openapi":' not in spec.text and "swagger" not in docs.text.lower()
        # The rest of the API is unaffected.
        assert (await client.get("/api/v1/sessions")).status_code == 200


@pytest.mark.parametrize("address", [LOOPBACK, REMOTE])
async def test_hooks_answer_only_to_the_secret(address: tuple[str, int], database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path, media_hook_secret=HOOK_SECRET) as app, caller(app, address) as client:
        attempts: list[httpx.Response] = [
            await client.post("/hooks/media/on_publish", data=nginx_form("fck_anything")),
            await client.post("/hooks/media/on_publish?secret=wrong", data=nginx_form("fck_anything")),
            await client.post("/hooks/media/on_publish_done", data=nginx_form("x"), headers={"X-Secret": "wrong"}),
            await client.get("/hooks/media/on_publish"),  # a method the hook does not take
            await client.get("/hooks/media/no-such-hook"),  # a hook that does not exist
            await client.get("/hooks/"),
            await client.request("OPTIONS", "/hooks/media/on_update"),
        ]
        for r in attempts:
            assert (r.status_code, r.text) == (403, "refused"), (r.request.method, r.request.url, r.text)
            assert "set-cookie" not in r.headers  # no session was started for it
            assert HOOK_SECRET not in r.text


async def test_hooks_without_a_secret_answer_only_loopback(database_url: str, tmp_path: Path) -> None:
    async with running(database_url, tmp_path) as app, caller(app, REMOTE) as client:
        for r in (await client.get("/hooks/media/no-such-hook"), await client.post("/hooks/media/on_publish")):
            assert (r.status_code, r.text) == (403, "refused")
