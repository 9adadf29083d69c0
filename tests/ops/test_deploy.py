"""The deployment files (issue 20, item 6): deploy/fieldcast.env.example names every setting and
is what scripts/env_example.py writes from the Settings class; its production values are valid
settings; the systemd units pass `systemd-analyze verify`; deploy/nginx/fieldcast-site.conf is
README.md's reverse-proxy block word for word, and that block serves HLS from the media server
under TLS at /hls/."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fieldcast.config import Settings
from tests.conftest import free_port, unavailable
from tests.media.conftest import NGINX, nginx_serving
from tests.realtime.test_nginx_rooms import proxy_config, readme_proxy_block, self_signed

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "fieldcast.env.example"
UNITS = DEPLOY / "systemd"
LINE = re.compile(r"^#?(FIELDCAST_[A-Z0-9_]+)=(.*)$")


def test_env_example_is_generated_from_the_settings_and_names_every_one() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "env_example.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    named = [m.group(1) for line in ENV_EXAMPLE.read_text().splitlines() if (m := LINE.match(line))]
    expected = ["FIELDCAST_" + name.upper() for name in Settings.model_fields]
    assert sorted(named) == sorted(expected)  # each once, none missing, none unknown


def test_env_example_production_values_are_valid_settings() -> None:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("FIELDCAST_"):
            name, _, value = line.partition("=")
            values[name.removeprefix("FIELDCAST_").lower()] = value
    assert {"database_url", "redis_url", "secret_key", "media_hook_secret", "public_url"} <= values.keys()
    settings = Settings(**values)  # type: ignore[arg-type]
    assert settings.secure_cookies is True and settings.api_docs is False
    assert settings.sqlalchemy_url.startswith("postgresql+asyncpg://")


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this host)")
    units = sorted(UNITS.glob("*.service")) + sorted(UNITS.glob("*.target"))
    assert {u.name for u in units} >= {
        "fieldcast-serve@.service",
        "fieldcast-fanout@.service",
        "fieldcast-media.service",
    }
    # verify wants every ExecStart binary to exist: the installed fieldcast is this environment's,
    # and nginx is where Debian puts it (or, without nginx here, a stand-in that exists).
    fieldcast = Path(sys.executable).parent / "fieldcast"
    nginx = str(NGINX) if NGINX.exists() else "/bin/true"
    for unit in units:
        text = unit.read_text()
        if unit.name in ("fieldcast-serve@.service", "fieldcast-fanout@.service"):
            assert "ExecStart=/opt/fieldcast/venv/bin/fieldcast " in text
        text = text.replace("/opt/fieldcast/venv/bin/fieldcast", str(fieldcast)).replace("/usr/sbin/nginx", nginx)
        (tmp_path / unit.name).write_text(text)
    names = [
        f"./{u.name.replace('@.', '@8001.') if 'serve@' in u.name else u.name.replace('@.', '@1.')}" for u in units
    ]
    done = subprocess.run(
        [analyze, "verify", "--man=no", *names], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == "", done.stderr  # not even a warning


def test_site_conf_is_the_readme_block() -> None:
    conf = (DEPLOY / "nginx" / "fieldcast-site.conf").read_text()
    body = conf[conf.index("upstream fieldcast {") :]  # after the file's own header comment
    assert body == readme_proxy_block()
    assert "location /hls/" in body and "listen 443 ssl" in body


async def test_the_proxy_block_serves_hls_from_the_media_server_over_tls(tmp_path: Path) -> None:
    if not NGINX.exists():
        unavailable(f"{NGINX} is missing (apt-get install nginx)")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    cert, key = self_signed(prefix)
    port = free_port()
    conf = proxy_config(prefix, port, free_port(), free_port(), cert, key)
    # The media server's HLS: a plain HTTP server on loopback, as media-config's is.
    hls_root = tmp_path / "media"
    (hls_root / "hls" / "live" / "s1").mkdir(parents=True)
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nseg0.ts\n"
    (hls_root / "hls" / "live" / "s1" / "index.m3u8").write_text(playlist)
    hls_port = free_port()
    text = conf.read_text()
    assert text.count("server 127.0.0.1:8080;") == 1, "the block's HLS upstream moved"
    conf.write_text(text.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{hls_port};"))
    media = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "http.server", str(hls_port), "--bind", "127.0.0.1", "--directory", str(hls_root),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with nginx_serving(prefix, conf, port):
            tls = ssl.create_default_context(cafile=str(cert))
            async with httpx.AsyncClient(verify=tls, timeout=10) as client:
                for _ in range(50):  # the stand-in media server may still be starting
                    r = await client.get(f"https://127.0.0.1:{port}/hls/live/s1/index.m3u8")
                    if r.status_code != 502:
                        break
                    await asyncio.sleep(0.1)
                assert r.status_code == 200, r.text
                assert r.text == playlist
                assert (await client.get(f"https://127.0.0.1:{port}/hls/live/s1/none.ts")).status_code == 404
                # What is never for the public: refused by nginx itself (no app behind it here).
                for path in ("/hooks/media/on_publish", "/hooks/", "/metrics"):
                    r = await client.post(f"https://127.0.0.1:{port}{path}")
                    assert r.status_code == 404, path
    finally:
        media.terminate()
        await media.wait()
