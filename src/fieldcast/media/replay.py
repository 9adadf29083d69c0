"""Replays: a session's recordings, in time order, remuxed into one VOD HLS playlist.

Recordings are `<recordings_dir>/<stream_name>-<unixtime>.flv` (nginx `record_unique on`) or
`.ts` (the embedded ffmpeg); one per publish, so a show with reconnects has several. The replay
goes to `<hls_dir>/replay/<stream_name>/index.m3u8`, built in a scratch folder and swapped in
whole so a player never sees half a replay."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from pathlib import Path

from fieldcast.live.paths import PLAYLIST
from fieldcast.media.ffmpeg import replay_args, run_ffmpeg

log = logging.getLogger(__name__)

RECORDING_SUFFIXES = (".flv", ".ts")
REMUX_TIMEOUT_S = 1800.0
_EXTINF = re.compile(r"^#EXTINF:([0-9.]+)", re.MULTILINE)


def recording_path(recordings_dir: Path, stream_name: str, suffix: str = ".ts") -> Path:
    """A fresh recording file name in the nginx-rtmp scheme, unique even for quick reconnects."""
    stamp = int(time.time())
    while (path := recordings_dir / f"{stream_name}-{stamp}{suffix}").exists():
        stamp += 1
    return path


def recordings_of(recordings_dir: Path, stream_name: str) -> list[Path]:
    """The session's recordings, oldest first (by the unix time in the name)."""
    found: list[tuple[int, Path]] = []
    for path in recordings_dir.glob(f"{stream_name}-*"):
        stamp = path.stem[len(stream_name) + 1 :]
        if path.suffix in RECORDING_SUFFIXES and stamp.isdigit() and path.stat().st_size > 0:
            found.append((int(stamp), path))
    return [path for _, path in sorted(found)]


def playlist_duration_s(playlist: Path) -> float:
    return sum(float(m) for m in _EXTINF.findall(playlist.read_text()))


def _snapshot(paths: list[Path]) -> list[tuple[str, int, int]]:
    out = []
    for p in paths:
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return out


async def wait_until_settled(recordings_dir: Path, stream_name: str, *, quiet_s: float, max_wait_s: float) -> None:
    """Wait until no recording of the stream has changed for `quiet_s` (the writer, possibly
    nginx in another process, has closed it), or `max_wait_s` passed."""
    if quiet_s <= 0:
        return
    deadline = time.monotonic() + max_wait_s
    last = _snapshot(recordings_of(recordings_dir, stream_name))
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(min(0.5, quiet_s))
        now = _snapshot(recordings_of(recordings_dir, stream_name))
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return


def _concat_list(paths: list[Path], target: Path) -> None:
    lines = []
    for path in paths:
        escaped = str(path.resolve()).replace("'", "'\\''")
        lines.append(f"file '{escaped}'")
    target.write_text("\n".join(lines) + "\n")


async def build_replay(executable: str, recordings_dir: Path, hls_dir: Path, stream_name: str) -> float | None:
    """Remux (copy, re-encode if copying fails) the recordings into the replay playlist.
    Returns its duration in seconds, or None when there is nothing playable."""
    recordings = recordings_of(recordings_dir, stream_name)
    if not recordings:
        log.warning("no recordings for stream %s; no replay", stream_name)
        return None
    replay_root = hls_dir / "replay"
    replay_root.mkdir(parents=True, exist_ok=True)
    scratch = replay_root / f".{stream_name}.building"
    final = replay_root / stream_name
    for copy in (True, False):
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        concat = scratch / "recordings.txt"
        _concat_list(recordings, concat)
        code, tail = await run_ffmpeg(
            executable, replay_args(concat, scratch, copy=copy), label=f"replay-{stream_name}", limit_s=REMUX_TIMEOUT_S
        )
        concat.unlink(missing_ok=True)
        playlist = scratch / PLAYLIST
        if code == 0 and playlist.exists() and (duration := playlist_duration_s(playlist)) > 0:
            old = replay_root / f".{stream_name}.old"
            shutil.rmtree(old, ignore_errors=True)
            if final.exists():
                final.rename(old)
            scratch.rename(final)
            shutil.rmtree(old, ignore_errors=True)
            return round(duration, 3)
        log.warning("replay of %s (copy=%s) failed with %s:\n%s", stream_name, copy, code, tail)
    shutil.rmtree(scratch, ignore_errors=True)
    return None
