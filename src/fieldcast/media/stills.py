"""Live stills: about once a minute, one frame of each live room's HLS becomes a small JPEG that
the room cards show (live/paths.still_media_path), so a list of rooms shows what is on air now.

Cheap and bounded: one ffmpeg at a time, each with a deadline; a round visits the rooms one after
another and the next round starts a full interval after the last one ended, so a slow machine only
makes the stills older. A room whose playlist has gone stale (nothing is being made) is skipped,
and so is one whose still another app process took moments ago. A failure is logged and the round
goes on: that card keeps its last still, or shows the cover. The rounds are a task of the media
backend and end with it."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from fieldcast.db.uow import UnitOfWork
from fieldcast.live.paths import PLAYLIST, STILLS_DIR, still_media_path
from fieldcast.live.queries import streaming_sessions
from fieldcast.media.ffmpeg import run_ffmpeg, still_args

log = logging.getLogger(__name__)

STILL_WIDTH = 480
GRAB_TIMEOUT_S = 15.0
# The first round waits this long after start-up (the app's own streams need a moment to make HLS).
FIRST_ROUND_AFTER_S = 5.0
# A live playlist is rewritten every second or so; one untouched this long is not being made.
PLAYLIST_FRESH_S = 20.0


class ReadUnitOfWork(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork: ...


def _age_s(path: Path) -> float | None:
    """Seconds since the file last changed, or None when there is no such file."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


class LiveStills:
    """Grabs the stills of the rooms on air into `<media_dir>/stills/`. `ffmpeg` is asked for the
    binary at each grab, so an app without one starts all the same and only logs."""

    def __init__(
        self,
        ffmpeg: Callable[[], str],
        uow: ReadUnitOfWork,
        *,
        hls_dir: Path,
        media_dir: Path,
        every_s: float,
        width: int = STILL_WIDTH,
        timeout_s: float = GRAB_TIMEOUT_S,
    ) -> None:
        self._ffmpeg = ffmpeg
        self._uow = uow
        self.hls_dir = hls_dir
        self.media_dir = media_dir
        self.every_s = every_s
        self.width = width
        self.timeout_s = timeout_s

    @property
    def stills_dir(self) -> Path:
        return self.media_dir / STILLS_DIR

    async def run(self) -> None:
        """Round after round until cancelled (the media backend's close)."""
        delay = min(self.every_s, FIRST_ROUND_AFTER_S)
        while True:
            await asyncio.sleep(delay)
            delay = self.every_s
            try:
                await self.grab_round()
            except Exception:  # the database may be away for a while: try again next round
                log.exception("live stills: the round failed")

    async def grab_round(self) -> int:
        """One still of every room whose HLS is being made; returns how many were taken."""
        async with self._uow(write=False) as uow:
            rooms = await streaming_sessions(uow.session)
        self.stills_dir.mkdir(parents=True, exist_ok=True)
        taken = 0
        for session_id, stream_name in rooms:
            taken += await self.grab(session_id, stream_name)
        self._forget_others({session_id for session_id, _ in rooms})
        return taken

    async def grab(self, session_id: int, stream_name: str) -> bool:
        """The newest frame of the room's live HLS, swapped in whole over its last still."""
        playlist = self.hls_dir / "live" / stream_name / PLAYLIST
        age = _age_s(playlist)
        if age is None or age > PLAYLIST_FRESH_S:
            return False
        target = self.media_dir / still_media_path(session_id)
        taken_s = _age_s(target)
        if taken_s is not None and taken_s < self.every_s / 2:  # another process has just taken it
            return False
        scratch = target.with_name(f".{session_id}.{os.getpid()}.jpg")
        try:
            code, tail = await run_ffmpeg(
                self._ffmpeg(),
                still_args(playlist, scratch, width=self.width),
                label=f"still-{session_id}",
                limit_s=self.timeout_s,
            )
        except OSError as exc:  # no ffmpeg binary, or it cannot be started
            log.warning("live still of session %s: ffmpeg could not run: %s", session_id, exc)
            return False
        try:
            if code != 0 or scratch.stat().st_size == 0:
                log.warning("live still of session %s failed (exit %s):\n%s", session_id, code, tail)
                return False
            scratch.replace(target)
            return True
        except FileNotFoundError:
            log.warning("live still of session %s: ffmpeg wrote nothing (exit %s):\n%s", session_id, code, tail)
            return False
        finally:
            scratch.unlink(missing_ok=True)

    def _forget_others(self, streaming: set[int]) -> None:
        """Stills of rooms no longer on air, and scratch files a killed grab left, go once they are
        well past their time (a room in its reconnect grace keeps its still meanwhile)."""
        keep_s = 2 * max(self.every_s, self.timeout_s)
        for path in self.stills_dir.iterdir():
            if path.stem.isdigit() and int(path.stem) in streaming:
                continue
            age = _age_s(path)
            if age is not None and age > keep_s and path.is_file():
                path.unlink(missing_ok=True)
