"""The release as an operator installs it (issue 20, item 5): the wheel built from this tree (by
way of its sdist, as `make dist` builds it) goes into a fresh virtual environment with nothing
else of ours, outside the source tree, and `fieldcast serve` from there answers a live room page
whose hls.js and CSS are served from the wheel — no npm, no checkout.

Needs the vendored assets in the tree (`make vendor`) and pip able to fetch the dependencies (the
configured index or wheel folder); without either it skips, and fails under
FIELDCAST_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, unavailable

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "src" / "fieldcast" / "web" / "static" / "vendor"


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def _tail(done: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    return "\n".join((done.stdout + done.stderr).strip().splitlines()[-lines:])


def _clean_env(data_dir: Path, bin_dir: Path) -> dict[str, str]:
    """The environment of a process on a fresh host: no FIELDCAST_* of the test run, no venv of
    ours on PATH, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIELDCAST_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    env["FIELDCAST_DATA_DIR"] = str(data_dir)
    env["FIELDCAST_DEMO_STREAMS"] = "false"
    return env


def test_the_wheel_installs_into_a_fresh_venv_and_serves_a_room_with_its_assets(tmp_path: Path) -> None:
    for asset in ("hls.min.js", "pico.min.css"):
        if not (VENDOR / asset).is_file():
            unavailable(f"{VENDOR / asset} is missing: run `make vendor` (npm) before building a release")

    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=tmp_path)
    if built.returncode != 0 and "install build dependencies" in built.stdout + built.stderr:
        unavailable(f"python -m build could not fetch setuptools: {_tail(built, 5)}")
    assert built.returncode == 0, _tail(built)
    checked = _run([sys.executable, str(ROOT / "scripts" / "check_dist.py"), str(dist)], cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    (wheel,) = dist.glob("fieldcast-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    installed = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=tmp_path)
    if installed.returncode != 0:
        unavailable(f"pip could not install the wheel's dependencies: {_tail(installed, 5)}")

    home = tmp_path / "host"  # not the checkout: nothing of the source tree is importable from here
    home.mkdir()
    env = _clean_env(home / "data", bin_dir)
    where = _run([str(bin_dir / "python"), "-c", "import fieldcast; print(fieldcast.__file__)"], cwd=home, env=env)
    assert where.stdout.strip().startswith(str(env_dir)), where.stdout + where.stderr

    seeded = _run([str(bin_dir / "fieldcast"), "demo", "--no-serve"], cwd=home, env=env)
    assert seeded.returncode == 0, _tail(seeded)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = home / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(bin_dir / "fieldcast"), "serve", "--port", str(port)], cwd=home, env=env, stdout=log, stderr=log
        )
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)

            home_page = client.get("/")
            assert home_page.status_code == 200
            rooms = re.findall(r'href="(/live/\d+)"', home_page.text)
            assert rooms, "the home page links no room"
            room = client.get(rooms[0])
            assert room.status_code == 200, room.text[:500]
            assert 'lang="zh-CN"' in room.text and "直播" in room.text  # the catalogue came along
            assert '<script src="/static/vendor/hls.min.js"' in room.text
            assert '<link rel="stylesheet" href="/static/vendor/pico.min.css">' in room.text
            for asset, media_type in (("hls.min.js", "javascript"), ("pico.min.css", "text/css")):
                served = client.get(f"/static/vendor/{asset}")
                assert served.status_code == 200, asset
                assert media_type in served.headers["content-type"]
                assert served.content == (VENDOR / asset).read_bytes()
            assert client.get("/static/app.css").status_code == 200
            assert client.get("/static/live/player.js").status_code == 200
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
