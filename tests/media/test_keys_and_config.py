"""Stream keys (one per session, stored hashed, rotatable, revoked at the end), the app's signed
internal names, and the nginx configuration `fieldcast media-config` writes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from typer.testing import CliRunner

from fieldcast.cli import cli
from fieldcast.config import Settings
from fieldcast.live import keys
from fieldcast.live.models import StreamKey
from fieldcast.media.nginx_config import NginxOptions, hls_location, render
from tests.conftest import TEST_SECRET
from tests.factories import schedule_show

pytestmark = pytest.mark.timeout(60)


async def test_key_is_stored_hashed_rotates_and_is_revoked(
    app: FastAPI, make_client: Callable[[], httpx.AsyncClient]
) -> None:
    show = await schedule_show(app, make_client, "keys")
    async with app.state.ctx.uow() as uow:
        first = await keys.issue_key(uow, show.session_id, None)
    async with app.state.ctx.uow() as uow:
        assert await keys.session_id_for_key(uow.session, first) == show.session_id
        stored = list(await uow.session.scalars(sa.select(StreamKey)))
        assert [k.key_hash for k in stored] == [keys.hash_key(first)]
        assert first not in {k.key_hash for k in stored} and stored[0].prefix == first[:8]
        second = await keys.issue_key(uow, show.session_id, None)
    async with app.state.ctx.uow() as uow:
        assert second != first
        assert await keys.session_id_for_key(uow.session, first) is None
        assert await keys.session_id_for_key(uow.session, second) == show.session_id
        active = await keys.active_key(uow.session, show.session_id)
        assert active is not None and active.key_hash == keys.hash_key(second)
        await keys.revoke_keys(uow, show.session_id)
    async with app.state.ctx.uow() as uow:
        assert await keys.session_id_for_key(uow.session, second) is None
        assert await keys.active_key(uow.session, show.session_id) is None
        assert await keys.session_id_for_key(uow.session, "not-a-key") is None


async def test_ending_a_show_revokes_its_key(app: FastAPI, make_client: Callable[[], httpx.AsyncClient]) -> None:
    show = await schedule_show(app, make_client, "keyend")
    host = show.org["host"]
    key = (await host.post(f"/api/v1/sessions/{show.session_id}/stream-key")).json()["stream_key"]
    assert (await host.post(f"/api/v1/sessions/{show.session_id}/start")).status_code == 200
    assert (await host.post(f"/api/v1/sessions/{show.session_id}/end")).status_code == 200
    async with app.state.ctx.uow() as uow:
        assert await keys.session_id_for_key(uow.session, key) is None


def test_internal_names_are_signed_per_session() -> None:
    name = keys.internal_publish_name(TEST_SECRET, 42)
    assert keys.session_id_for_internal_name(TEST_SECRET, name) == 42
    assert keys.session_id_for_internal_name("another secret", name) is None
    assert keys.session_id_for_internal_name(TEST_SECRET, name.replace("app-42-", "app-43-")) is None
    for junk in ("", "app-", "app-x-y", "app-42", "fck_abc", "app--1-" + name[-32:]):
        assert keys.session_id_for_internal_name(TEST_SECRET, junk) is None


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, secret_key=TEST_SECRET, media_hook_secret="s3cret&x", **overrides)  # type: ignore[arg-type]


def test_config_has_ingest_hooks_hls_recording_and_an_http_server(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    options = NginxOptions(rtmp_port=19350, http_port=18080, app_url="http://127.0.0.1:8123", prefix=tmp_path / "ngx")
    conf = render(settings, options)
    hls = settings.resolved_hls_dir
    for expected in (
        'load_module "/usr/lib/nginx/modules/ngx_rtmp_module.so";',
        f'pid "{tmp_path / "ngx" / "nginx.pid"}";',
        "listen 19350;",
        "on_publish http://127.0.0.1:8123/hooks/media/on_publish?secret=s3cret%26x;",
        "on_update http://127.0.0.1:8123/hooks/media/on_update?secret=s3cret%26x;",
        "on_publish http://127.0.0.1:8123/hooks/media/on_relay_publish?secret=s3cret%26x;",
        "on_publish_done http://127.0.0.1:8123/hooks/media/on_publish_done?secret=s3cret%26x;",
        "push rtmp://127.0.0.1:19350/show;",
        "deny play all;",
        f'hls_path "{hls / "live"}";',
        "hls_nested on;",
        "hls_fragment 1s;",
        "record all;",
        "record_unique on;",
        f'record_path "{settings.resolved_recordings_dir}";',
        "listen 18080;",
        "location /hls/ {",
        f'alias "{hls}/";',
        "application/vnd.apple.mpegurl m3u8;",
        "video/mp2t ts;",
    ):
        assert expected in conf, expected
    # The public application takes only the loopback relay; HLS is written there, not in ingest.
    ingest, public = conf.split("application show {", 1)
    assert "hls on;" not in ingest and "hls on;" in public
    assert "allow publish 127.0.0.1;" in public and "deny publish all;" in public


def test_config_options(tmp_path: Path) -> None:
    conf = render(
        _settings(tmp_path, hls_base_url="https://cdn.example.com/video/hls"),
        NginxOptions(prefix=tmp_path, module_path=None, bind="127.0.0.1", user="fieldcast"),
    )
    assert "load_module" not in conf
    assert "user fieldcast;" in conf
    assert "listen 127.0.0.1:1935;" in conf
    assert "location /video/hls/ {" in conf
    assert hls_location("/hls") == "/hls/"


def test_config_refuses_values_that_would_break_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid nginx value"):
        render(_settings(tmp_path / "bad\nname"), NginxOptions(prefix=tmp_path))


def test_media_config_command_writes_a_file_nginx_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIELDCAST_SECRET_KEY", TEST_SECRET)
    out = tmp_path / "conf" / "nginx.conf"
    prefix = tmp_path / "prefix"
    result = CliRunner().invoke(
        cli, ["media-config", "--out", str(out), "--prefix", str(prefix), "--rtmp-port", "19999", "--bind", "127.0.0.1"]
    )
    assert result.exit_code == 0, result.output
    assert "listen 127.0.0.1:19999;" in out.read_text()
    assert (tmp_path / "data" / "recordings").is_dir()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists() or not Path("/usr/lib/nginx/modules/ngx_rtmp_module.so").exists():
        return  # the integration test reports a missing nginx; syntax is checked where it exists
    check = subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(out)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert check.returncode == 0, check.stderr
