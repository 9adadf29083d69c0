"""Stream keys (one per session, stored hashed, rotatable, revoked at the end), the app's signed
internal names, and the nginx configuration `fieldcast media-config` writes."""

from __future__ import annotations

import shutil
import stat
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
from fieldcast.media.nginx_config import ConfigError, NginxOptions, hls_location, render
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
    options = NginxOptions(
        rtmp_port=19350,
        http_port=18080,
        hook_port=18089,
        app_urls=("http://127.0.0.1:8123", "http://127.0.0.1:8124/"),
        prefix=tmp_path / "ngx",
    )
    conf = render(settings, options)
    hls = settings.resolved_hls_dir
    for expected in (
        'load_module "/usr/lib/nginx/modules/ngx_rtmp_module.so";',
        f'pid "{tmp_path / "ngx" / "nginx.pid"}";',
        "listen 127.0.0.1:19350;",
        "error_log",
        "on_publish http://127.0.0.1:18089/hooks/media/on_publish;",
        "on_update http://127.0.0.1:18089/hooks/media/on_update;",
        "on_publish http://127.0.0.1:18089/hooks/media/on_relay_publish;",
        "on_publish_done http://127.0.0.1:18089/hooks/media/on_publish_done;",
        # Every app process behind one upstream; a callback moves on when a process is down.
        "upstream fieldcast_apps {",
        "server 127.0.0.1:8123 max_fails=1 fail_timeout=10s;",
        "server 127.0.0.1:8124 max_fails=1 fail_timeout=10s;",
        "listen 127.0.0.1:18089;",
        "proxy_pass http://fieldcast_apps;",
        "proxy_next_upstream error timeout http_500 http_502 http_503 http_504 non_idempotent;",
        'proxy_set_header X-Fieldcast-Hook-Secret "s3cret&x";',
        "push rtmp://127.0.0.1:19350/show;",
        "deny play all;",
        f'hls_path "{hls / "live"}";',
        "hls_nested on;",
        "hls_fragment 1s;",
        "record all;",
        "record_unique on;",
        f'record_path "{settings.resolved_recordings_dir}";',
        "listen 127.0.0.1:18080;",
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
    # The secret is in a header only, never in a URL nginx-rtmp calls (or an access log keeps).
    assert [line for line in conf.splitlines() if "s3cret" in line] == [
        '            proxy_set_header X-Fieldcast-Hook-Secret "s3cret&x";'
    ]
    hook_server = conf.split("listen 127.0.0.1:18089;", 1)[1].split("server {", 1)[0]
    assert "access_log off;" in hook_server
    # At info nginx-rtmp logs every publish with its name and arguments.
    assert f'error_log "{tmp_path / "ngx" / "error.log"}" warn;' in conf


def test_config_options(tmp_path: Path) -> None:
    conf = render(
        _settings(tmp_path, hls_base_url="https://cdn.example.com/video/hls"),
        NginxOptions(prefix=tmp_path, module_path=None, bind="0.0.0.0", user="fieldcast"),
    )
    assert "load_module" not in conf
    assert "user fieldcast;" in conf
    assert "listen 1935;" in conf and "listen 8080;" in conf  # asked for every interface
    assert "listen 127.0.0.1:8089;" in conf  # the callback server never is
    assert "allow publish 127.0.0.1;" in conf
    assert "server 127.0.0.1:8000 max_fails=1 fail_timeout=10s;" in conf
    assert "location /video/hls/ {" in conf
    assert hls_location("/hls") == "/hls/"


def test_config_refuses_values_that_would_break_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid nginx value"):
        render(_settings(tmp_path / "bad\nname"), NginxOptions(prefix=tmp_path))
    with pytest.raises(ConfigError, match=r"must not contain '\$'"):
        render(Settings(data_dir=tmp_path, media_hook_secret="a$b"), NginxOptions(prefix=tmp_path))
    for bad in ("https://127.0.0.1:8001", "http://127.0.0.1:8001/app", "127.0.0.1:8001", "http://:80"):
        with pytest.raises(ConfigError, match="--app-url"):
            render(_settings(tmp_path), NginxOptions(prefix=tmp_path, app_urls=(bad,)))


def test_media_config_command_writes_a_file_nginx_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIELDCAST_SECRET_KEY", TEST_SECRET)
    out = tmp_path / "conf" / "nginx.conf"
    prefix = tmp_path / "prefix"
    out.parent.mkdir()
    out.write_text("old")
    out.chmod(0o644)
    result = CliRunner().invoke(
        cli,
        ["media-config", "--out", str(out), "--prefix", str(prefix), "--rtmp-port", "19999",
         "--app-url", "http://127.0.0.1:8001", "--app-url", "http://127.0.0.1:8002"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    conf = out.read_text()
    assert "listen 127.0.0.1:19999;" in conf and "listen 127.0.0.1:8080;" in conf  # loopback by default
    assert "server 127.0.0.1:8001 " in conf and "server 127.0.0.1:8002 " in conf
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds the secret, even when rewritten
    for folder in ("recordings", "hls/live", "hls/replay"):
        assert stat.S_IMODE((tmp_path / "data" / folder).stat().st_mode) == 0o750, folder
    assert stat.S_IMODE((prefix / "tmp").stat().st_mode) == 0o750
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


def test_media_config_names_a_missing_worker_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FIELDCAST_SECRET_KEY", TEST_SECRET)
    out = tmp_path / "nginx.conf"
    result = CliRunner().invoke(
        cli, ["media-config", "--out", str(out), "--prefix", str(tmp_path / "p"), "--user", "fieldcast-nobody-here"]
    )
    assert result.exit_code == 2
    assert "user 'fieldcast-nobody-here' does not exist" in result.output and "useradd" in result.output
    assert not out.exists()
