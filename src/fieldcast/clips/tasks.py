"""The cutter: an app process's chore that takes clips waiting to be cut, one at a time, and runs
ffmpeg on them off the request path (media/clips.py), like the replay built after a show ends.

Every app process runs one (FIELDCAST_CLIP_CUT_POLL_S > 0); a clip is leased by a guarded UPDATE
(clips/actions.take_next), so one process cuts it. A new clip wakes its own process's cutter after
the commit; the others find work on their next poll. A cutter that dies mid-cut leaves its lease
to run out, and the clip is cut again; a cut that fails is tried again, then marked failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from fieldcast.clips import actions as a
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import backend_unavailable
from fieldcast.media.clips import CutFailed, cut_clip

log = logging.getLogger(__name__)


class ClipCutter:
    """Cuts the clips waiting, in id order. `ffmpeg` is asked for the binary at each cut, so an app
    without one starts all the same (its clips fail with the reason)."""

    def __init__(
        self,
        new_uow: Callable[..., UnitOfWork],
        ffmpeg: Callable[[], str],
        *,
        hls_dir: Path,
        media_dir: Path,
        poll_s: float,
    ) -> None:
        self._new_uow = new_uow
        self._ffmpeg = ffmpeg
        self.hls_dir = hls_dir
        self.media_dir = media_dir
        self.poll_s = poll_s
        self._wakeup = asyncio.Event()

    async def wake(self) -> None:
        """After a commit that asked for a clip (an after-commit hook): look now."""
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Cut until `stop` is set; between passes wait for a wake-up or `poll_s`."""
        while not stop.is_set():
            try:
                while not stop.is_set() and await self.cut_next():
                    pass
            except Exception as exc:  # the database may be away: the next pass tries again
                if backend_unavailable(exc):
                    log.warning("clip cutter: a backend is unavailable (%r)", exc)
                else:
                    log.exception("clip cutter: the pass failed")
            self._wakeup.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wakeup.wait())]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    async def cut_next(self) -> bool:
        """Cut the next clip waiting; False when there was none."""
        async with self._new_uow() as uow:
            job = await a.take_next(uow, self.hls_dir)
        if job is None:
            return False
        error = ""
        made = None
        try:
            made = await cut_clip(
                self._ffmpeg(),
                job.playlist,
                job.start_s,
                job.end_s,
                self.media_dir / job.video_path,
                self.media_dir / job.poster_path,
            )
        except (CutFailed, OSError) as exc:  # no replay file, no ffmpeg, ffmpeg failed
            error = str(exc) or exc.__class__.__name__
            log.warning("clip %s: the cut failed: %s", job.clip_id, error)
        async with self._new_uow() as uow:
            if made is not None:
                clip = await a.cut_done(uow, job, start_s=made.start_s, duration_s=made.duration_s)
            else:
                clip = await a.cut_done(uow, job, error=error)
        if made is not None and (clip is None or clip.deleted_at is not None):
            # Deleted while it was being cut: its files must not stay behind.
            for path in (job.video_path, job.poster_path):
                (self.media_dir / path).unlink(missing_ok=True)
        return True
