"""What the media folders keep, and for how long (`fieldcast media-gc`, and every app process
every FIELDCAST_MEDIA_GC_INTERVAL_S).

- Raw recordings (`<recordings>/<stream>-<unixtime>.flv|.ts`) of an ended show are deleted once
  its replay is ready and verified playable (its playlist is complete, every segment it lists is
  there, and ffmpeg reads it through), FIELDCAST_RECORDING_KEEP_DAYS after the show ended (0 = at
  once). A failed replay keeps its recordings, so it can be built again.
- Live HLS folders (`<hls>/live/<stream>/`) of shows that are no longer scheduled or live (or of
  no show at all) are removed once nothing was written in them for a minute.

Replays, stills and uploads are never touched here."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from fieldcast.config import Settings
from fieldcast.live.models import ReplayState, SessionState
from fieldcast.live.paths import PLAYLIST
from fieldcast.live.queries import sessions_by_stream_name
from fieldcast.media.ffmpeg import run_ffmpeg
from fieldcast.media.replay import RECORDING_SUFFIXES

log = logging.getLogger(__name__)

# A live folder is left alone while anything in it changed this recently (a publish just starting).
LIVE_FOLDER_QUIET_S = 60.0
VERIFY_TIMEOUT_S = 600.0
OPEN_STATES = (SessionState.SCHEDULED, SessionState.LIVE)


@dataclass
class GcReport:
    recordings_deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    live_folders_removed: list[str] = field(default_factory=list)
    replays_unverified: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.recordings_deleted)} recordings deleted ({self.bytes_freed} bytes), "
            f"{len(self.live_folders_removed)} live HLS folders removed, "
            f"{len(self.replays_unverified)} replays not verified (their recordings kept)"
        )


def recordings_by_stream(recordings_dir: Path) -> dict[str, list[Path]]:
    """Recording files by the stream name in their file name (`<stream>-<unixtime><suffix>`)."""
    found: dict[str, list[Path]] = {}
    if not recordings_dir.is_dir():
        return found
    for path in recordings_dir.iterdir():
        name, dash, stamp = path.stem.rpartition("-")
        if path.suffix in RECORDING_SUFFIXES and dash and name and stamp.isdigit() and path.is_file():
            found.setdefault(name, []).append(path)
    return found


def _newest_mtime(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for child in folder.iterdir():
        try:
            newest = max(newest, child.stat().st_mtime)
        except FileNotFoundError:
            continue
    return newest


def _listed_segments(playlist: Path) -> list[Path] | None:
    """The segments a complete (VOD) playlist lists, or None when it is not complete."""
    try:
        text = playlist.read_text()
    except OSError:
        return None
    if "#EXT-X-ENDLIST" not in text:
        return None
    lines = [line.strip() for line in text.splitlines()]
    return [playlist.parent / line for line in lines if line and not line.startswith("#")]


async def replay_playable(ffmpeg: str, hls_dir: Path, stream_name: str) -> bool:
    """The replay's playlist is complete, every segment is there, and ffmpeg reads it all through
    (a remux to nowhere: no decoding, so a long show is checked in seconds)."""
    playlist = hls_dir / "replay" / stream_name / PLAYLIST
    segments = _listed_segments(playlist)
    if not segments or any(not p.is_file() or p.stat().st_size == 0 for p in segments):
        return False
    args = ["-nostdin", "-v", "error", "-i", str(playlist), "-map", "0", "-c", "copy", "-f", "null", "-"]
    code, tail = await run_ffmpeg(ffmpeg, args, label=f"verify-{stream_name}", limit_s=VERIFY_TIMEOUT_S)
    if code != 0:
        log.warning("replay of %s did not verify (ffmpeg %s): %s", stream_name, code, tail[-500:])
    return code == 0


async def prune_recordings(
    ffmpeg: str, settings: Settings, stream_name: str, files: list[Path], report: GcReport
) -> None:
    """Delete a ready show's recordings, after verifying its replay (see the module's docstring)."""
    if not await replay_playable(ffmpeg, settings.resolved_hls_dir, stream_name):
        report.replays_unverified.append(stream_name)
        return
    for path in files:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        report.recordings_deleted.append(path.name)
        report.bytes_freed += size
    log.info("recordings of stream %s deleted: its replay is verified", stream_name)


async def collect(session: AsyncSession, settings: Settings, ffmpeg: str, *, now: datetime | None = None) -> GcReport:
    """One pass over recordings and live HLS folders; what it deleted."""
    now = now or datetime.now(UTC)
    report = GcReport()
    keep = timedelta(days=settings.recording_keep_days)
    by_stream = recordings_by_stream(settings.resolved_recordings_dir)
    live_root = settings.resolved_hls_dir / "live"
    live_folders = [p for p in live_root.iterdir() if p.is_dir()] if live_root.is_dir() else []
    sessions = await sessions_by_stream_name(session, sorted({*by_stream, *(p.name for p in live_folders)}))

    for stream_name, files in sorted(by_stream.items()):
        live = sessions.get(stream_name)
        if live is None or live.state != SessionState.ENDED or live.replay_state != ReplayState.READY:
            continue  # unknown, still on air, or its replay failed: keep the raw material
        if live.ended_at is not None and live.ended_at + keep > now:
            continue
        await prune_recordings(ffmpeg, settings, stream_name, files, report)

    quiet_before = time.time() - LIVE_FOLDER_QUIET_S
    for folder in live_folders:
        live = sessions.get(folder.name)
        if live is not None and live.state in OPEN_STATES:
            continue
        try:
            if _newest_mtime(folder) > quiet_before:
                continue
        except FileNotFoundError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        report.live_folders_removed.append(folder.name)
    if report.recordings_deleted or report.live_folders_removed:
        log.info("media clean-up: %s", report.summary())
    return report
