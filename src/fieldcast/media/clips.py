"""Clips cut from a replay: ffmpeg copies a stretch of the replay's HLS into one standalone MP4
(faststart, so a phone starts playing before the file is in) and grabs its first frame as the
poster. Nothing is re-encoded: the cut starts on the keyframe at or before the asked start (the
live encoder puts one every second, media/ffmpeg.py), so a clip may begin up to a second early.

Why MP4 and not HLS: a clip is short (seconds to a few minutes), is watched from a shared link
on a phone, and is one file: every phone browser plays it natively (no hls.js), a plain static
file server with Range requests serves it, and deleting it is one unlink."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from fieldcast.media.ffmpeg import run_ffmpeg

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 30.0
CUT_TIMEOUT_S = 300.0
POSTER_WIDTH = 720
# Seek a hair before the keyframe found, so rounding of its time cannot land just after it
# (ffmpeg would then drop it and start a second later).
SEEK_SLACK_S = 0.001
_TIMEBASE = re.compile(r"^#tb 0: (\d+)/(\d+)", re.MULTILINE)
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


class CutFailed(Exception):
    """ffmpeg could not make the clip (the message holds the tail of its log)."""


@dataclass(frozen=True)
class Cut:
    """What was made: where the clip starts in the replay (the keyframe) and how long it is."""

    start_s: float
    duration_s: float


def keyframe_probe_args(playlist: Path, at_s: float) -> list[str]:
    """The video packets from the replay segment holding `at_s` up to just past it, as text
    (framecrc: one line per packet, its time relative to `at_s`; keyframes carry no "F=" flag).
    Packets are copied, never decoded: cheap even for a long replay."""
    return [
        "-ss",
        f"{at_s:.3f}",
        "-i",
        str(playlist),
        "-t",
        "0.05",
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-f",
        "framecrc",
        "-",
    ]


def keyframe_offset_s(framecrc: str) -> float | None:
    """The time (relative to the probed position) of the last keyframe at or before it, or of the
    first one after it when none comes before; None when the text lists no keyframe."""
    tb = _TIMEBASE.search(framecrc)
    if tb is None:
        return None
    num, den = int(tb.group(1)), int(tb.group(2))
    before: float | None = None
    after: float | None = None
    for line in framecrc.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 6 or any(p.startswith("F=") for p in parts[6:]):
            continue  # not a keyframe
        try:
            t = int(parts[2]) * num / den  # pts
        except ValueError:
            continue
        if t <= 0:
            before = t if before is None else max(before, t)
        elif after is None or t < after:
            after = t
    return before if before is not None else after


def cut_args(playlist: Path, start_s: float, duration_s: float, out: Path) -> list[str]:
    """Copy [start_s, start_s + duration_s) of the replay into an MP4 with its index up front.
    `-copypriorss 0` drops what the HLS seek brings in before the start (the segment's earlier
    packets), so the file begins on the keyframe at start_s."""
    return [
        "-ss",
        f"{max(0.0, start_s - SEEK_SLACK_S):.3f}",
        "-i",
        str(playlist),
        "-t",
        f"{duration_s:.3f}",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
        "-copypriorss",
        "0",
        "-movflags",
        "+faststart",
        "-y",
        "-f",
        "mp4",
        str(out),
    ]


def poster_args(video: Path, out: Path, *, width: int = POSTER_WIDTH) -> list[str]:
    """The clip's first frame (a keyframe) as a JPEG no wider than `width`."""
    return [
        "-threads",
        "1",
        "-i",
        str(video),
        "-map",
        "0:v:0",
        "-an",
        "-frames:v",
        "1",
        "-vf",
        f"scale='min({width},iw)':-2",
        "-q:v",
        "4",
        "-update",
        "1",
        "-y",
        "-f",
        "image2",
        str(out),
    ]


async def _capture(executable: str, args: list[str], *, limit_s: float) -> tuple[int, str, str]:
    """Run ffmpeg to its end; (exit code, stdout, stderr). For the short probes only."""
    proc = await asyncio.create_subprocess_exec(
        executable,
        "-hide_banner",
        "-nostdin",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_s)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


async def keyframe_at_or_before(executable: str, playlist: Path, at_s: float) -> float:
    """Where a copy-cut asked to start at `at_s` really starts: the replay's keyframe at or before
    it (or the first after it, at the very start of the replay). `at_s` itself when the replay
    lists no keyframe near it (ffmpeg then starts where it can)."""
    try:
        code, out, err = await _capture(
            executable, ["-loglevel", "error", *keyframe_probe_args(playlist, at_s)], limit_s=PROBE_TIMEOUT_S
        )
    except TimeoutError:
        return at_s
    offset = keyframe_offset_s(out) if code == 0 else None
    if offset is None:
        log.warning("no keyframe found near %.3f s of %s (exit %s): %s", at_s, playlist, code, err[-500:])
        return at_s
    return max(0.0, round(at_s + offset, 3))


async def media_duration_s(executable: str, path: Path) -> float | None:
    """The duration ffmpeg reads in a media file's header, or None."""
    _, _, err = await _capture(executable, ["-i", str(path)], limit_s=PROBE_TIMEOUT_S)
    found = _DURATION.search(err)
    if found is None:
        return None
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _made(path: Path) -> bool:
    """The file is there and not empty (ffmpeg may leave an empty one behind when it fails)."""
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


async def cut_clip(executable: str, playlist: Path, start_s: float, end_s: float, video: Path, poster: Path) -> Cut:
    """Cut [start_s, end_s) of the replay into `video` (MP4) and its poster into `poster` (JPEG),
    each written beside its target and swapped in whole. CutFailed when either cannot be made."""
    if not _made(playlist):
        raise CutFailed(f"no replay at {playlist}")
    start = await keyframe_at_or_before(executable, playlist, start_s)
    video.parent.mkdir(parents=True, exist_ok=True)
    video_part = video.with_name(f".{video.name}.part")
    poster_part = poster.with_name(f".{poster.name}.part")
    try:
        code, tail = await run_ffmpeg(
            executable,
            cut_args(playlist, start, end_s - start, video_part),
            label=f"clip-{video.stem}",
            limit_s=CUT_TIMEOUT_S,
        )
        if code != 0 or not _made(video_part):
            raise CutFailed(f"ffmpeg cut exited with {code}: {tail[-500:]}")
        code, tail = await run_ffmpeg(
            executable, poster_args(video_part, poster_part), label=f"poster-{video.stem}", limit_s=PROBE_TIMEOUT_S
        )
        if code != 0 or not _made(poster_part):
            raise CutFailed(f"ffmpeg poster exited with {code}: {tail[-500:]}")
        duration = await media_duration_s(executable, video_part)
        video_part.replace(video)
        poster_part.replace(poster)
    finally:
        video_part.unlink(missing_ok=True)
        poster_part.unlink(missing_ok=True)
    return Cut(start_s=start, duration_s=round(duration if duration is not None else end_s - start, 3))
