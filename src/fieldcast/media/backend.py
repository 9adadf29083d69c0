"""The media backend: one Protocol, two adapters, picked once by make_media().

EmbeddedMedia (no FIELDCAST_RTMP_URL) runs ffmpeg itself: browser go-live and demo streams are
encoded straight to HLS in FIELDCAST_HLS_DIR plus a recording, and the app serves that folder.
NginxMedia relays the same two sources to nginx-rtmp under the session's stream name, with a
signed internal name as its key; nginx writes
HLS and recordings and tells the app about publishes through the hooks (media/hooks.py).

Both build the replay when a show ends, run the reconnect grace period after ingest drops, and
grab the live rooms' card pictures from their HLS (media/stills.py). Every process also runs an
ingest watchdog (a show whose HLS stopped being written loses its stream even when no callback
said so, and is ended after the grace period) and the media clean-up (media/retention.py).
Child processes and background tasks belong to the backend and end with close()."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from fieldcast.config import Settings
from fieldcast.db.uow import UnitOfWork
from fieldcast.errors import DomainError, NotFound
from fieldcast.live import actions, paths
from fieldcast.live.keys import internal_publish_name, publish_url
from fieldcast.live.queries import dropped_live_sessions, live_ingest_states, load_session
from fieldcast.media.ffmpeg import (
    FfmpegProcess,
    browser_input_args,
    demo_source_args,
    encode_args,
    ffmpeg_executable,
    hls_and_recording_output,
    input_format,
    rtmp_output,
)
from fieldcast.media.nginx_config import UPDATE_INTERVAL_S
from fieldcast.media.replay import build_replay, recording_path, recordings_of, wait_until_settled
from fieldcast.media.retention import GcReport, collect, prune_recordings
from fieldcast.media.stills import LiveStills

log = logging.getLogger(__name__)

PLAYLIST_POLL_S = 0.1
# nginx closes a recording when the publisher goes; a console "end" drops the publisher at the
# next on_update. Wait that long (plus slack) for the files to stop growing.
NGINX_SETTLE_QUIET_S = 3.0
NGINX_SETTLE_MAX_S = UPDATE_INTERVAL_S + 20.0


class UowFactory(Protocol):
    """A new unit of work, a write one unless asked (the composition root's Database.uow)."""

    def __call__(self, *, write: bool = True) -> UnitOfWork: ...


class UnsupportedInput(ValueError):
    """The browser offered a recording format ffmpeg is not set up to read."""


class IngestHandle(Protocol):
    """A running pipeline fed by a browser: MediaRecorder chunks in, live video out."""

    @property
    def running(self) -> bool: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...

    async def wait_started(self, within_s: float) -> bool: ...


class MediaBackend(Protocol):
    """What the app needs from video ingest and delivery, whichever adapter runs."""

    @property
    def serves_hls(self) -> bool:
        """Whether the app itself must serve FIELDCAST_HLS_DIR (no nginx in front)."""
        ...

    @property
    def running_pipelines(self) -> int:
        """ffmpeg pipelines this process runs now (browser go-live, test streams, relays to nginx)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def publish_url_for_hosts(self) -> str | None: ...

    async def open_browser_ingest(self, session_id: int, stream_name: str, mime: str) -> IngestHandle: ...

    async def start_test_stream(self, session_id: int, stream_name: str, *, caption_png: Path | None = None) -> None:
        """Test video into the session (the demo; `caption_png` is the demo's caption, see
        ffmpeg.demo_source_args)."""
        ...

    async def session_ended(self, session_id: int, stream_name: str) -> None: ...

    def schedule_end_check(self, session_id: int, stopped_at: datetime) -> None: ...

    async def resume_end_checks(self) -> int: ...

    async def watch_ingest(self) -> int: ...

    async def collect(self) -> GcReport: ...


class Pipeline:
    """One ffmpeg feeding one session. `quiet` marks a stop the app asked for (replaced by a
    newer pipeline, show ended, app closing): that exit is not a dropped stream."""

    def __init__(self, session_id: int, stream_name: str, process: FfmpegProcess) -> None:
        self.session_id = session_id
        self.stream_name = stream_name
        self.process = process
        self.started = asyncio.Event()
        self.launched_at = time.time()
        self.quiet = False

    @property
    def running(self) -> bool:
        return self.process.running

    async def write(self, data: bytes) -> None:
        await self.process.write(data)

    async def close(self) -> None:
        """End of input from the browser: ffmpeg finishes the segment and the recording."""
        await self.process.close_input()

    async def wait_started(self, within_s: float) -> bool:
        """True once the video is flowing; False if ffmpeg exited first or time ran out."""
        started = asyncio.ensure_future(self.started.wait())
        exited = asyncio.ensure_future(self.process.wait())
        try:
            await asyncio.wait({started, exited}, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
            exited.cancel()
        return self.started.is_set()

    async def stop_quietly(self) -> None:
        self.quiet = True
        await self.process.stop()


class _FfmpegMedia:
    """What both adapters share: the ffmpeg children, background tasks and the end of a show."""

    settle_quiet_s = 0.0
    settle_max_s = 0.0

    def __init__(self, settings: Settings, uow: UowFactory) -> None:
        self.settings = settings
        self._new_uow = uow
        self.hls_dir = settings.resolved_hls_dir
        self.recordings_dir = settings.resolved_recordings_dir
        self._pipelines: dict[int, Pipeline] = {}
        self._launch_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Replays are CPU work; one at a time keeps a burst of ended shows from starving live ones.
        self._replay_slots = asyncio.Semaphore(1)
        self._closing = False
        # The live rooms' card pictures: a loop of its own, not in _tasks (drain() waits for those).
        self.stills = LiveStills(
            lambda: self.ffmpeg,
            uow,
            hls_dir=self.hls_dir,
            media_dir=settings.resolved_media_dir,
            every_s=settings.live_still_interval_s,
        )
        self._stills_task: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []

    @property
    def running_pipelines(self) -> int:
        return sum(1 for pipeline in self._pipelines.values() if pipeline.running)

    def _uow(self) -> UnitOfWork:
        """A write unit of work (its room events, went live or replay ready, go out through the outbox)."""
        return self._new_uow()

    @cached_property
    def ffmpeg(self) -> str:
        # Resolved on first use: an app that never runs ffmpeg (OBS into nginx only) starts without it.
        return ffmpeg_executable(self.settings.ffmpeg_path)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        for folder in (self.hls_dir / "live", self.hls_dir / "replay", self.recordings_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if self.stills.every_s > 0 and self._stills_task is None:
            self._stills_task = asyncio.create_task(self.stills.run(), name="live-stills")
        if not self._loops:
            chores = (
                ("ingest-watchdog", self.settings.ingest_watchdog_s, self.watch_ingest),
                ("media-gc", self.settings.media_gc_interval_s, self.collect),
            )
            for name, every_s, step in chores:
                if every_s > 0:
                    self._loops.append(asyncio.create_task(self._every(every_s, step), name=name))

    async def close(self) -> None:
        """Stop every pipeline (recordings get their trailer), cancel timers and replay builds."""
        self._closing = True
        if self._stills_task is not None:
            self._stills_task.cancel()
            await asyncio.gather(self._stills_task, return_exceptions=True)
            self._stills_task = None
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        await asyncio.gather(*(p.stop_quietly() for p in list(self._pipelines.values())), return_exceptions=True)
        self._pipelines.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drain(self, within_s: float) -> None:
        """Wait for background work (replays, end checks) to finish; for tests and the benchmark."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within_s)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        if self._closing:
            coro.close()
            return
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("media task %s failed", task.get_name(), exc_info=exc)

    # -- URLs ------------------------------------------------------------------------------------

    # -- pipelines -------------------------------------------------------------------------------

    def _output_args(self, session_id: int, stream_name: str) -> list[str]:
        raise NotImplementedError

    async def _watch(self, pipeline: Pipeline) -> None:
        raise NotImplementedError

    async def _launch(self, session_id: int, stream_name: str, args: list[str], *, with_stdin: bool) -> Pipeline:
        """Start a pipeline for the session; a newer one replaces an older one (a host who
        reloads the console), and the old one's exit does not count as a dropped stream."""
        async with self._launch_lock:
            old = self._pipelines.pop(session_id, None)
            if old is not None:
                await old.stop_quietly()
            process = FfmpegProcess(
                self.ffmpeg,
                args + self._output_args(session_id, stream_name),
                label=f"ingest-{session_id}",
                with_stdin=with_stdin,
            )
            pipeline = Pipeline(session_id, stream_name, process)
            await process.start()
            self._pipelines[session_id] = pipeline
        self._spawn(self._watch(pipeline), f"watch-{session_id}")
        return pipeline

    async def _after_exit(self, pipeline: Pipeline) -> int | None:
        code = await pipeline.process.wait()
        if self._pipelines.get(pipeline.session_id) is pipeline:
            del self._pipelines[pipeline.session_id]
        if code not in (0, None) and not pipeline.quiet:
            log.warning(
                "ffmpeg for session %s exited with %s:\n%s", pipeline.session_id, code, pipeline.process.stderr_tail()
            )
        return code

    async def open_browser_ingest(self, session_id: int, stream_name: str, mime: str) -> IngestHandle:
        fmt = input_format(mime)
        if fmt is None:
            raise UnsupportedInput(mime)
        return await self._launch(
            session_id, stream_name, browser_input_args(fmt) + encode_args(audio_input=0), with_stdin=True
        )

    async def start_test_stream(self, session_id: int, stream_name: str, *, caption_png: Path | None = None) -> None:
        source = demo_source_args(caption_png=caption_png)
        await self._launch(session_id, stream_name, source + encode_args(audio_input=1), with_stdin=False)

    # -- the end of a show -----------------------------------------------------------------------

    async def session_ended(self, session_id: int, stream_name: str) -> None:
        """Called after the end is committed: stop local pipelines, then build the replay."""
        self._spawn(self._finish(session_id, stream_name), f"replay-{session_id}")

    async def _finish(self, session_id: int, stream_name: str) -> None:
        pipeline = self._pipelines.pop(session_id, None)
        if pipeline is not None:
            await pipeline.stop_quietly()
        duration: float | None = None
        try:
            async with self._replay_slots:
                await wait_until_settled(
                    self.recordings_dir, stream_name, quiet_s=self.settle_quiet_s, max_wait_s=self.settle_max_s
                )
                duration = await build_replay(self.ffmpeg, self.recordings_dir, self.hls_dir, stream_name)
        except OSError:
            log.exception("replay of session %s failed", session_id)
        async with self._uow() as uow:
            await actions.replay_finished(uow, session_id, duration)
        if duration is not None and self.settings.recording_keep_days == 0:
            files = recordings_of(self.recordings_dir, stream_name)
            await prune_recordings(self.ffmpeg, self.settings, stream_name, files, GcReport())

    def schedule_end_check(self, session_id: int, stopped_at: datetime) -> None:
        """After the grace period, end the show unless the stream came back meanwhile."""
        self._spawn(self._end_check(session_id, stopped_at), f"end-check-{session_id}")

    async def resume_end_checks(self) -> int:
        """At start-up: shows whose stream dropped before a restart get their end check back
        (their timers died with the old process), with what is left of the grace period."""
        async with self._uow() as uow:
            dropped = await dropped_live_sessions(uow.session)
        for session_id, stopped_at in dropped:
            self.schedule_end_check(session_id, stopped_at)
        return len(dropped)

    # -- the ingest watchdog and the clean-up --------------------------------------------------------

    async def _every(self, interval_s: float, step: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """Run `step` every `interval_s` until closed; a failed pass is logged and the next one runs."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await step()
            except Exception:  # the database or a folder is away for a moment: try again next time
                log.exception("%s failed", getattr(step, "__name__", "media chore"))

    def last_video_at(self, stream_name: str) -> datetime | None:
        """When the stream's live HLS was last written (its newest file, or the folder itself: nginx
        deletes old fragments, and a finished stream's whole playlist, in it), or None when the
        stream never had a folder."""
        folder = self.hls_dir / "live" / stream_name
        try:
            newest = folder.stat().st_mtime
            for entry in os.scandir(folder):
                try:
                    mtime = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                newest = max(newest, mtime)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return datetime.fromtimestamp(newest, UTC)

    async def watch_ingest(self) -> int:
        """One watchdog pass in this process (every one runs it; the row lock lets one act):
        a live show whose HLS is older than FIELDCAST_INGEST_STALE_S, with no drop noted, has its
        drop noted as of its last video; a show whose drop is older than the grace period, with no
        newer video, ends. A show that never had video (started in the console, OBS still
        connecting) is left alone. Returns how many shows it ended."""
        async with self._new_uow(write=False) as uow:
            shows = await live_ingest_states(uow.session)
        now = datetime.now(UTC)
        stale = timedelta(seconds=self.settings.ingest_stale_s)
        grace = timedelta(seconds=self.settings.reconnect_grace_s)
        ended = 0
        for session_id, stream_name, stopped_at in shows:
            seen = self.last_video_at(stream_name)
            if stopped_at is None:
                if seen is None or now - seen < stale:
                    continue
                async with self._uow() as uow:
                    noted = await actions.ingest_lost(uow, session_id, seen)
                if noted is not None:
                    log.info("session %s: no video since %s and no callback; grace period runs", session_id, seen)
                    self.schedule_end_check(session_id, noted)
                continue
            if now - stopped_at < grace or (seen is not None and seen > stopped_at and now - seen < stale):
                continue  # still in its grace period, or video is flowing again
            async with self._uow() as uow:
                if await actions.end_if_still_stopped(uow, session_id, stopped_at, self):
                    ended += 1
                    log.info("session %s ended by the ingest watchdog: no video since %s", session_id, stopped_at)
        return ended

    async def collect(self) -> GcReport:
        """One media clean-up pass (media/retention.py), as `fieldcast media-gc` runs it."""
        async with self._new_uow(write=False) as uow:
            return await collect(uow.session, self.settings, self.ffmpeg)

    async def _end_check(self, session_id: int, stopped_at: datetime) -> None:
        elapsed = (datetime.now(UTC) - stopped_at).total_seconds()
        await asyncio.sleep(max(0.0, self.settings.reconnect_grace_s - elapsed))
        async with self._uow() as uow:
            ended = await actions.end_if_still_stopped(uow, session_id, stopped_at, self)
        if ended:
            log.info("session %s ended: no stream for %.0f s", session_id, self.settings.reconnect_grace_s)


class EmbeddedMedia(_FfmpegMedia):
    """No nginx: ffmpeg writes the live HLS and a recording; the app serves the HLS folder."""

    @property
    def serves_hls(self) -> bool:
        return True

    def publish_url_for_hosts(self) -> str | None:
        return None

    def _output_args(self, session_id: int, stream_name: str) -> list[str]:
        live_dir = self.hls_dir / "live" / stream_name
        live_dir.mkdir(parents=True, exist_ok=True)
        return hls_and_recording_output(live_dir, recording_path(self.recordings_dir, stream_name))

    def _playlist_fresh(self, pipeline: Pipeline) -> bool:
        playlist: Path = self.hls_dir / "live" / pipeline.stream_name / paths.PLAYLIST
        try:
            return playlist.stat().st_mtime >= pipeline.launched_at
        except FileNotFoundError:
            return False

    async def _watch(self, pipeline: Pipeline) -> None:
        # Live means playable: the first segment is listed in a playlist this pipeline wrote.
        while not self._playlist_fresh(pipeline):
            if await pipeline.process.wait(PLAYLIST_POLL_S) is not None:
                break
        if pipeline.running and not pipeline.quiet:
            try:
                await self._ingest_started(pipeline.session_id)
            except DomainError as exc:
                log.info("session %s refused its stream: %s", pipeline.session_id, exc)
                await pipeline.stop_quietly()
            except Exception:  # the database is away: no half-live show, the host can retry
                log.exception("could not mark session %s live", pipeline.session_id)
                await pipeline.stop_quietly()
            else:
                pipeline.started.set()
        await self._after_exit(pipeline)
        if pipeline.started.is_set() and not pipeline.quiet and not self._closing:
            await self._ingest_stopped(pipeline.session_id)

    async def _ingest_started(self, session_id: int) -> None:
        async with self._uow() as uow:
            live = await load_session(uow.session, session_id)
            if live is None:
                raise NotFound("No such session.")
            await actions.ingest_started(uow, live)

    async def _ingest_stopped(self, session_id: int) -> None:
        async with self._uow() as uow:
            live = await load_session(uow.session, session_id)
            if live is None:
                return
            stopped_at = await actions.ingest_stopped(uow, live)
        self.schedule_end_check(session_id, stopped_at)


class NginxMedia(_FfmpegMedia):
    """nginx-rtmp ingests and serves HLS; the app's own sources are relayed to it over RTMP and
    session state follows nginx's callbacks, exactly as for OBS."""

    settle_quiet_s = NGINX_SETTLE_QUIET_S
    settle_max_s = NGINX_SETTLE_MAX_S

    @property
    def serves_hls(self) -> bool:
        return False

    def publish_url_for_hosts(self) -> str | None:
        return self.settings.rtmp_public_url or self.settings.rtmp_url

    def _output_args(self, session_id: int, stream_name: str) -> list[str]:
        key = internal_publish_name(self.settings.resolved_secret_key, session_id)
        return rtmp_output(publish_url(self.settings.rtmp_url, stream_name, key))

    async def _watch(self, pipeline: Pipeline) -> None:
        # ffmpeg writes frames only after nginx accepted the publish (the hook made it live).
        producing = asyncio.ensure_future(pipeline.process.producing.wait())
        exited = asyncio.ensure_future(pipeline.process.wait())
        try:
            await asyncio.wait({producing, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            producing.cancel()
            exited.cancel()
        if pipeline.process.producing.is_set():
            pipeline.started.set()
        await self._after_exit(pipeline)


def make_media(settings: Settings, uow: UowFactory) -> MediaBackend:
    """Pick the adapter once, from settings: an RTMP URL means nginx-rtmp runs the ingest."""
    if settings.rtmp_url:
        return NginxMedia(settings, uow)
    return EmbeddedMedia(settings, uow)
