"""Publish-to-playable delay of live video, embedded ffmpeg path and nginx-rtmp path, in one run.

A publisher draws frames whose top band encodes the wall-clock time (32 black/white blocks of
milliseconds plus an 8-bit checksum, large enough to survive compression), and publishes them:
  embedded: VP8/Opus webm chunks every 250 ms over the app's browser go-live WebSocket, exactly
            as MediaRecorder in the host console does;
  nginx:    H.264/AAC over RTMP with the session's stream name and key, as OBS does (keyframe every 1 s).
A reader polls the HLS playlist, fetches each new segment as soon as it is listed, decodes it
and reads the stamps. The delay of a segment is (when it became fetchable) − (stamp of its last
frame); the first frame's delay is shown too (it waited a whole segment). The player estimate
adds the hls.js live sync offset (`--sync-segments` target durations behind the live edge) and
half a segment (a player joins at a random moment between playlist updates).

It starts its own app servers (uvicorn, in this process), nginx on free ports and temp data.
Usage: .venv/bin/python bench/latency.py [--seconds 25] [--only embedded|nginx]
Prints a table and, as the last line, one JSON object. Target: under 6 s."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import connect

from fieldcast.accounts.models import Organisation, OrgKind
from fieldcast.app import create_app
from fieldcast.cli import ensure_admin
from fieldcast.config import Settings
from fieldcast.db.base import utcnow
from fieldcast.db.engine import Database
from fieldcast.db.migrate import upgrade
from fieldcast.live import keys
from fieldcast.live.models import LiveSession
from fieldcast.media.ffmpeg import ffmpeg_executable
from fieldcast.media.nginx_config import NginxOptions, write_config

TARGET_S = 6.0
WIDTH, HEIGHT, FPS = 640, 360, 25
BITS, CHECK_BITS = 32, 8
BLOCK_W = WIDTH // (BITS + CHECK_BITS)
BAND_H = 48
SAMPLE_ROWS = range(12, 36)
CHUNK_S = 0.25  # MediaRecorder timeslice the host console uses
POLL_S = 0.05
WARMUP_SEGMENTS = 3
NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
ADMIN_EMAIL, ADMIN_PASSWORD = "bench@example.com", "bench password 1234"


# -- the stamped picture ----------------------------------------------------------------------------


def _checksum(value: int) -> int:
    return sum(value.to_bytes(4, "big")) & 0xFF


def stamped_frame(ms: int, frame_no: int) -> bytes:
    """A gray frame: the stamp band on top, a moving bar below (so it looks like video)."""
    value = ms & 0xFFFFFFFF
    word = (value << CHECK_BITS) | _checksum(value)
    row = bytearray()
    for i in range(BITS + CHECK_BITS - 1, -1, -1):
        row += (b"\xeb" if (word >> i) & 1 else b"\x10") * BLOCK_W
    row += b"\x80" * (WIDTH - len(row))
    band = bytes(row) * BAND_H
    bar_x = (frame_no * 8) % WIDTH
    body_row = bytearray(b"\x60" * WIDTH)
    body_row[bar_x : bar_x + 40] = b"\xc0" * len(body_row[bar_x : bar_x + 40])
    return band + bytes(body_row) * (HEIGHT - BAND_H)


def read_stamp(band: bytes) -> int | None:
    """The stamp of one decoded band (WIDTH x BAND_H gray), or None if it does not check out."""
    word = 0
    for i in range(BITS + CHECK_BITS):
        x = i * BLOCK_W + BLOCK_W // 2
        total = sum(sum(band[y * WIDTH + x - 3 : y * WIDTH + x + 3]) for y in SAMPLE_ROWS)
        mean = total / (6 * len(SAMPLE_ROWS))
        word = (word << 1) | (1 if mean > 125 else 0)
    value, check = word >> CHECK_BITS, word & 0xFF
    return value if _checksum(value) == check else None


def unwrap_ms(stamp: int, now_ms: int) -> int:
    """Stamps are milliseconds mod 2^32; put one back next to the current time."""
    base = now_ms - (now_ms & 0xFFFFFFFF)
    full = base + stamp
    return full - (1 << 32) if full > now_ms + 60_000 else full


async def publish_frames(stdin: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    """Write stamped frames at FPS in real time; the stamp is taken as each frame is written."""
    start = time.monotonic()
    n = 0
    while not stop.is_set():
        stdin.write(stamped_frame(int(time.time() * 1000), n))
        await stdin.drain()
        n += 1
        await asyncio.sleep(max(0.0, start + n / FPS - time.monotonic()))


def raw_input_args() -> list[str]:
    return ["-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "pipe:0",
            "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]  # fmt: skip


# -- reading the HLS output ---------------------------------------------------------------------------


@dataclass
class Sample:
    last_s: float
    first_s: float


@dataclass
class PathResult:
    name: str
    samples: list[Sample] = field(default_factory=list)
    segment_s: list[float] = field(default_factory=list)
    error: str | None = None


async def decode_stamps(ffmpeg: str, data: bytes) -> list[int]:
    proc = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-map", "0:v:0",
        "-vf", f"scale={WIDTH}:{HEIGHT},crop={WIDTH}:{BAND_H}:0:0", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await proc.communicate(data)
    size = WIDTH * BAND_H
    stamps = [read_stamp(out[i : i + size]) for i in range(0, len(out) - size + 1, size)]
    return [s for s in stamps if s is not None]


async def read_hls(ffmpeg: str, playlist_url: str, result: PathResult, seconds: float, stop: asyncio.Event) -> None:
    """Poll the playlist; every newly listed segment is fetched at once and measured."""
    seen: set[str] = set()
    measured = 0
    deadline: float | None = None
    async with httpx.AsyncClient(timeout=5.0) as client:
        while not stop.is_set():
            if deadline is not None and time.monotonic() > deadline:
                break
            try:
                response = await client.get(playlist_url)
            except httpx.TransportError:
                response = None
            if response is None or response.status_code != 200:
                await asyncio.sleep(POLL_S)
                continue
            listed_at_ms = time.time() * 1000
            lines = response.text.splitlines()
            for i, line in enumerate(lines):
                if not line.endswith(".ts") or line in seen:
                    continue
                seen.add(line)
                extinf = lines[i - 1] if i and lines[i - 1].startswith("#EXTINF:") else "#EXTINF:0,"
                segment = await client.get(playlist_url.rsplit("/", 1)[0] + "/" + line)
                stamps = await decode_stamps(ffmpeg, segment.content)
                if not stamps or len(seen) <= WARMUP_SEGMENTS:
                    continue  # first segments carry start-up delay, not steady-state latency
                now_ms = int(time.time() * 1000)
                last, first = unwrap_ms(stamps[-1], now_ms), unwrap_ms(stamps[0], now_ms)
                result.samples.append(Sample((listed_at_ms - last) / 1000, (listed_at_ms - first) / 1000))
                result.segment_s.append(float(extinf[8:].split(",")[0] or 0))
                measured += 1
                if deadline is None:
                    deadline = time.monotonic() + seconds
            await asyncio.sleep(POLL_S)


# -- servers ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Bench:
    base_url: str
    session_id: int
    stream_name: str
    key: str
    cookie: str
    settings: Settings


async def _seed(settings: Settings) -> tuple[int, str, str]:
    """One organisation, one scheduled session, its key; the platform admin operates it."""
    await asyncio.to_thread(upgrade, settings.sqlalchemy_url)  # Alembic runs its own event loop
    await ensure_admin(settings, email=ADMIN_EMAIL, display_name="Bench", password=ADMIN_PASSWORD)
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.uow() as uow:
            org = Organisation(slug=f"bench-{secrets.token_hex(3)}", name="Bench", kind=OrgKind.COOPERATIVE)
            uow.session.add(org)
            await uow.session.flush()
            live = LiveSession(
                organisation_id=org.id, title="latency bench", scheduled_at=utcnow(), stream_name=secrets.token_hex(8)
            )
            uow.session.add(live)
            await uow.session.flush()
            key = await keys.issue_key(uow, live.id, None)
            return live.id, live.stream_name, key
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def app_server(settings: Settings) -> AsyncIterator[Bench]:
    session_id, stream_name, key = await _seed(settings)
    port = settings.port
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            r = await client.post("/api/v1/auth/signin", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            r.raise_for_status()
            cookie = f"fc_session={client.cookies['fc_session']}"
        yield Bench(base_url, session_id, stream_name, key, cookie, settings)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, secret_key=secrets.token_urlsafe(32), port=free_port(), **overrides)


@contextlib.asynccontextmanager
async def nginx_server(data_dir: Path, settings: Settings, rtmp_port: int, http_port: int) -> AsyncIterator[None]:
    prefix = data_dir / "nginx"
    conf = write_config(
        settings,
        NginxOptions(
            rtmp_port=rtmp_port, http_port=http_port, hook_port=free_port(),
            app_urls=(f"http://127.0.0.1:{settings.port}",), prefix=prefix,
            user=getpass.getuser() if os.geteuid() == 0 else None,
        ),
        data_dir / "nginx.conf",
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        str(NGINX), "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf), "-g", "daemon off;",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(200):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", rtmp_port)) == 0:
                    break
            if proc.returncode is not None:
                raise RuntimeError(f"nginx exited with {proc.returncode}; see {prefix / 'error.log'}")
            await asyncio.sleep(0.05)
        yield
    finally:
        await _stop_process(proc)


# -- the two paths ----------------------------------------------------------------------------------


async def _stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def run_embedded(ffmpeg: str, root: Path, seconds: float) -> PathResult:
    result = PathResult("embedded")
    settings = _settings(root / "embedded")
    async with app_server(settings) as bench:
        encoder = await asyncio.create_subprocess_exec(
            ffmpeg, "-hide_banner", "-loglevel", "error", *raw_input_args(),
            "-map", "0:v", "-map", "1:a", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
            "-b:v", "1200k", "-g", "60", "-c:a", "libopus", "-f", "webm", "-live", "1",
            "-cluster_time_limit", "100", "-flush_packets", "1", "pipe:1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert encoder.stdin is not None and encoder.stdout is not None
        stop = asyncio.Event()
        url = bench.base_url.replace("http", "ws", 1) + f"/ws/ingest/{bench.session_id}"
        try:
            async with connect(url, additional_headers={"Cookie": bench.cookie}, max_size=None) as ws:
                await ws.send(json.dumps({"mime": "video/webm;codecs=vp8,opus"}))
                ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if ready.get("status") != "ready":
                    raise RuntimeError(f"ingest refused: {ready}")

                async def chunks() -> None:
                    # MediaRecorder hands over what it has every timeslice, not per packet.
                    assert encoder.stdout is not None
                    pending = bytearray()
                    next_flush = time.monotonic() + CHUNK_S
                    while not stop.is_set():
                        try:
                            left = max(0.0, next_flush - time.monotonic())
                            data = await asyncio.wait_for(encoder.stdout.read(65536), left)
                        except TimeoutError:
                            data = b""
                        pending += data
                        if time.monotonic() >= next_flush:
                            if pending:
                                await ws.send(bytes(pending))
                                pending.clear()
                            next_flush += CHUNK_S

                tasks = [
                    asyncio.create_task(publish_frames(encoder.stdin, stop)),
                    asyncio.create_task(chunks()),
                ]
                playlist = bench.base_url + f"/hls/live/{bench.stream_name}/index.m3u8"
                await asyncio.wait_for(read_hls(ffmpeg, playlist, result, seconds, stop), seconds + 60)
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
        except Exception as exc:  # a failed path is reported, the other still runs
            result.error = repr(exc)
        finally:
            stop.set()
            await _stop_process(encoder)
    return result


def nginx_installed() -> bool:
    return NGINX.exists() and RTMP_MODULE.exists()


async def run_nginx(ffmpeg: str, root: Path, seconds: float) -> PathResult:
    result = PathResult("nginx")
    if not nginx_installed():
        result.error = "nginx or libnginx-mod-rtmp not installed"
        return result
    rtmp_port, http_port = free_port(), free_port()
    settings = _settings(
        root / "nginx", rtmp_url=f"rtmp://127.0.0.1:{rtmp_port}/live", hls_base_url=f"http://127.0.0.1:{http_port}/hls"
    )
    async with nginx_server(root / "nginx", settings, rtmp_port, http_port), app_server(settings) as bench:
        encoder = await asyncio.create_subprocess_exec(
            ffmpeg, "-hide_banner", "-loglevel", "error", *raw_input_args(),
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
            "-g", str(FPS), "-b:v", "1500k", "-c:a", "aac", "-b:a", "96k",
            "-f", "flv", keys.publish_url(settings.rtmp_url, bench.stream_name, bench.key),
            stdin=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert encoder.stdin is not None
        stop = asyncio.Event()
        try:
            frames = asyncio.create_task(publish_frames(encoder.stdin, stop))
            playlist = f"http://127.0.0.1:{http_port}/hls/live/{bench.stream_name}/index.m3u8"
            await asyncio.wait_for(read_hls(ffmpeg, playlist, result, seconds, stop), seconds + 60)
            stop.set()
            await asyncio.gather(frames, return_exceptions=True)
        except Exception as exc:
            result.error = repr(exc)
        finally:
            stop.set()
            await _stop_process(encoder)
    return result


# -- report -----------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summarise(result: PathResult, sync_segments: float) -> dict[str, Any]:
    if not result.samples:
        return {"error": result.error or "no samples"}
    last = [s.last_s for s in result.samples]
    first = [s.first_s for s in result.samples]
    seg = statistics.median(result.segment_s) if result.segment_s else 1.0
    offset = sync_segments * seg + seg / 2
    return {
        "samples": len(last),
        "segment_s": round(seg, 2),
        "p50_s": round(_pct(last, 0.5), 2),
        "p95_s": round(_pct(last, 0.95), 2),
        "max_s": round(max(last), 2),
        "first_frame_p50_s": round(_pct(first, 0.5), 2),
        "player_p50_s": round(_pct(last, 0.5) + offset, 2),
        "player_p95_s": round(_pct(last, 0.95) + offset, 2),
        "error": result.error,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="measuring time per path")
    parser.add_argument("--only", choices=["embedded", "nginx"], default=None)
    parser.add_argument("--sync-segments", type=float, default=2.0, help="hls.js liveSyncDurationCount")
    args = parser.parse_args()
    ffmpeg = ffmpeg_executable("")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="fieldcast-latency-") as tmp:
        root = Path(tmp)
        # One after the other: the two encoders would otherwise compete for the same cores.
        if args.only in (None, "embedded"):
            results["embedded"] = summarise(await run_embedded(ffmpeg, root, args.seconds), args.sync_segments)
        if args.only in (None, "nginx"):
            results["nginx"] = summarise(await run_nginx(ffmpeg, root, args.seconds), args.sync_segments)

    columns = ("seg s", "p50 s", "p95 s", "max s", "1st fr", "player", "pl p95")
    header = f"{'path':<10}{'n':>4}" + "".join(f"{c:>8}" for c in columns)
    print("publish-to-playable delay (segment listed − stamp of its last frame), target < "
          f"{TARGET_S:.0f} s; player = + {args.sync_segments:g} × segment (hls.js live sync) + ½ segment")  # fmt: skip
    print(header)
    summary: dict[str, Any] = {"target_s": TARGET_S, "sync_segments": args.sync_segments}
    for name, row in results.items():
        if "p50_s" not in row:
            print(f"{name:<10}  failed: {row['error']}")
            summary[f"{name}_error"] = row["error"]
            continue
        print(f"{name:<10}{row['samples']:>4}{row['segment_s']:>8.2f}{row['p50_s']:>8.2f}{row['p95_s']:>8.2f}"
              f"{row['max_s']:>8.2f}{row['first_frame_p50_s']:>8.2f}{row['player_p50_s']:>8.2f}"
              f"{row['player_p95_s']:>8.2f}")  # fmt: skip
        for key in ("p50_s", "p95_s", "max_s", "first_frame_p50_s", "player_p50_s", "player_p95_s", "samples"):
            summary[f"{name}_{key}"] = row[key]
        summary[f"{name}_within_target"] = row["player_p95_s"] < TARGET_S
    print(json.dumps(summary))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
