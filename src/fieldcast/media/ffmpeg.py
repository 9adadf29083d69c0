"""ffmpeg child processes and the command lines of the live pipelines.

Every child is reaped (no zombies), its stderr is kept as a short tail for the log, and its
stdin is written with a deadline so a stalled encoder can never make the app buffer without
bound. The command builders encode once to H.264/AAC with a keyframe every second, which both
the ~1 s HLS fragments and nginx-rtmp's fragmenter need."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 30
WRITE_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0
# Live HLS of the embedded backend: ~1 s segments, a short window kept on disk.
LIVE_SEGMENT_S = 1
LIVE_LIST_SIZE = 6
REPLAY_SEGMENT_S = 4
TEST_SIZE = "640x360"
TEST_RATE = 25
CAPTION_RATE = 5  # times a second the demo's caption picture is read again

# MediaRecorder types we accept and the ffmpeg demuxer for each.
INPUT_FORMATS = {
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
    "audio/webm": "matroska",
    "video/mp4": "mp4",
}


class IngestClosed(Exception):
    """The pipeline no longer accepts input (ffmpeg exited, or it could not keep up)."""


def ffmpeg_executable(configured: str) -> str:
    """The configured binary, else the one imageio-ffmpeg ships (no system ffmpeg needed)."""
    if configured:
        return configured
    import imageio_ffmpeg

    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:  # no bundled binary for this platform and none on PATH
        raise FileNotFoundError(f"ffmpeg not found: {exc}") from exc


def input_format(mime: str) -> str | None:
    """The ffmpeg demuxer for a MediaRecorder MIME type such as 'video/webm;codecs=vp8,opus'."""
    base = mime.split(";", 1)[0].strip().lower()
    return INPUT_FORMATS.get(base)


class FfmpegProcess:
    """One ffmpeg child. `producing` is set once ffmpeg reports encoded frames (-progress)."""

    def __init__(self, executable: str, args: list[str], *, label: str, with_stdin: bool = False) -> None:
        self.executable = executable
        self.args = args
        self.label = label
        self.with_stdin = with_stdin
        self.producing = asyncio.Event()
        self.frames = 0
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._exited = asyncio.Event()
        self.returncode: int | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            self.executable,
            "-hide_banner",
            # No keyboard commands on stdin: it is the media input (or closed).
            "-nostdin",
            "-nostats",
            "-loglevel",
            "warning",
            "-progress",
            "pipe:1",
            "-stats_period",
            "0.5",
            *self.args,
            stdin=asyncio.subprocess.PIPE if self.with_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Its own session: a Ctrl-C on the server's terminal must not kill the encoders
            # before the app has finished them (recordings need their trailer).
            start_new_session=True,
        )
        self._readers = [
            asyncio.create_task(self._read_progress(), name=f"{self.label}-progress"),
            asyncio.create_task(self._read_stderr(), name=f"{self.label}-stderr"),
        ]
        asyncio.create_task(self._reap(), name=f"{self.label}-reap")  # noqa: RUF006 - ends with the child

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and not self._exited.is_set()

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    async def _read_progress(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for raw in self._proc.stdout:
            key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
            if key == "frame" and value.isdigit():
                self.frames = int(value)
                if self.frames > 0:
                    self.producing.set()

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    async def _reap(self) -> None:
        assert self._proc is not None
        try:
            self.returncode = await self._proc.wait()
            # Drain the pipes so the tail is complete before anyone logs it.
            await asyncio.wait(self._readers, timeout=2)
        finally:
            for task in self._readers:
                task.cancel()
            self._exited.set()

    async def wait(self, within_s: float | None = None) -> int | None:
        """The exit code, or None if it is still running after `within_s` seconds."""
        if self._proc is None:
            return None
        try:
            await asyncio.wait_for(self._exited.wait(), within_s)
        except TimeoutError:
            return None
        return self.returncode

    async def write(self, data: bytes) -> None:
        """Feed stdin; if ffmpeg cannot take it within the deadline the input is refused rather
        than queued (the caller drops the socket)."""
        proc = self._proc
        if proc is None or proc.stdin is None or not self.running or proc.stdin.is_closing():
            raise IngestClosed(self.label)
        try:
            proc.stdin.write(data)
            await asyncio.wait_for(proc.stdin.drain(), WRITE_TIMEOUT_S)
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
            raise IngestClosed(self.label) from exc

    async def close_input(self) -> None:
        """End of input: ffmpeg flushes its outputs (playlist, recording trailer) and exits."""
        proc = self._proc
        if proc is not None and proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await proc.stdin.wait_closed()

    async def stop(self, grace_s: float = STOP_TIMEOUT_S) -> int | None:
        """Finish gracefully (end of input, or SIGINT for generated sources), kill if it hangs."""
        proc = self._proc
        if proc is None:
            return None
        if self.running:
            if self.with_stdin:
                await self.close_input()
            else:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
            if await self.wait(grace_s) is None:
                log.warning("%s did not stop in %.0f s; killing it", self.label, grace_s)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        return await self.wait()


async def run_ffmpeg(executable: str, args: list[str], *, label: str, limit_s: float) -> tuple[int, str]:
    """Run a finite ffmpeg job (a replay remux); killed when it overruns or is cancelled."""
    job = FfmpegProcess(executable, args, label=label)
    await job.start()
    try:
        code = await job.wait(limit_s)
    except asyncio.CancelledError:
        await job.stop(grace_s=2)
        raise
    if code is None:
        await job.stop(grace_s=2)
        return -1, f"timed out after {limit_s:.0f} s\n{job.stderr_tail()}"
    return code, job.stderr_tail()


# -- command lines ---------------------------------------------------------------------------------


def browser_input_args(fmt: str) -> list[str]:
    """MediaRecorder chunks on stdin. Small probe so the first frames are not held back."""
    return [
        "-fflags",
        "+genpts+nobuffer",
        "-probesize",
        "256k",
        "-analyzeduration",
        "500000",
        "-f",
        fmt,
        "-i",
        "pipe:0",
    ]


def filter_path(path: Path) -> str:
    """A file name as a value inside a filter graph: escaped for the option (first level) and
    then for the graph (second level), as ffmpeg-filters(1) "Notes on filtergraph escaping" says."""
    value = re.sub(r"([\\':])", r"\\\1", str(path))
    return re.sub(r"([\\'\[\],;])", r"\\\1", value)


def demo_source_args(*, size: str = TEST_SIZE, rate: int = TEST_RATE, caption_png: Path | None = None) -> list[str]:
    """The demo picture and tone, paced in real time. Only the demo passes `caption_png`: a
    picture laid over the bottom of the test picture (what the room sells), read again a few
    times a second, so replacing the file (atomically) changes what viewers see."""
    video = f"testsrc2=size={size}:rate={rate}"
    if caption_png is not None:
        # movie= with loop=0 opens the image again at every loop, unlike a second -i input,
        # and keeps the video one input, so encode_args' -map 0:v:0 and -vf stay as they are.
        video = (
            f"{video}[bg];movie={filter_path(caption_png)}:f=image2:loop=0,"
            f"setpts=N/({CAPTION_RATE}*TB)[fg];[bg][fg]overlay=x=0:y=H-h"
        )
    return [
        "-re",
        "-f",
        "lavfi",
        "-i",
        video,
        "-re",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
    ]


def encode_args(*, audio_input: int = 0) -> list[str]:
    """H.264/AAC with a keyframe every second: low delay, phone-friendly profile."""
    # Keep the camera's size but no longer side above 1280 px (portrait phones stay portrait).
    scale = "scale=w='if(gte(iw,ih),min(1280,iw),-2)':h='if(gte(iw,ih),-2,min(1280,ih))',format=yuv420p"
    return [
        "-map",
        "0:v:0",
        "-map",
        f"{audio_input}:a:0?",
        "-vf",
        scale,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-profile:v",
        "main",
        "-b:v",
        "1800k",
        "-maxrate",
        "2200k",
        "-bufsize",
        "2200k",
        # By time, not frame count: MediaRecorder frame rates vary.
        "-force_key_frames",
        f"expr:gte(t,n_forced*{LIVE_SEGMENT_S})",
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-ar",
        "48000",
        "-ac",
        "2",
    ]


def _tee_escape(path: Path) -> str:
    """Escape a path for the tee muxer's slave syntax (':' separates options, '|' slaves)."""
    text = str(path)
    for char in "\\:|[]'":
        text = text.replace(char, "\\" + char)
    return text


def hls_and_recording_output(live_dir: Path, recording: Path) -> list[str]:
    """Embedded output: the live HLS window and, from the same encode, a recording for the replay.
    A full disk for the recording must not take the live picture down (onfail=ignore)."""
    segments = _tee_escape(live_dir / "%d.ts")
    hls = (
        f"[f=hls:hls_time={LIVE_SEGMENT_S}:hls_list_size={LIVE_LIST_SIZE}"
        # epoch_us: sequence numbers keep rising across a reconnect, so players never go backwards.
        ":hls_flags=delete_segments+independent_segments+temp_file+discont_start"
        f":hls_start_number_source=epoch_us:hls_segment_filename={segments}]"
        f"{_tee_escape(live_dir / 'index.m3u8')}"
    )
    record = f"[f=mpegts:onfail=ignore]{_tee_escape(recording)}"
    return ["-f", "tee", f"{hls}|{record}"]


def rtmp_output(url: str) -> list[str]:
    return ["-f", "flv", "-flvflags", "no_duration_filesize", url]


def replay_args(concat_list: Path, out_dir: Path, *, copy: bool) -> list[str]:
    """Recordings in time order → one VOD playlist with ~4 s segments."""
    codecs = ["-c", "copy"] if copy else ["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", "-b:a", "96k"]
    return [
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(concat_list),
        "-map",
        "0:v?",
        "-map",
        "0:a?",
        *codecs,
        "-f",
        "hls",
        "-hls_time",
        str(REPLAY_SEGMENT_S),
        "-hls_playlist_type",
        "vod",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_filename",
        str(out_dir / "%d.ts"),
        str(out_dir / "index.m3u8"),
    ]


def still_args(playlist: Path, out: Path, *, width: int) -> list[str]:
    """One frame of a live HLS (its newest segment) as a JPEG no wider than `width`: a room card's
    picture. One thread, no audio: cheap enough to run beside the live encodes."""
    return [
        "-threads",
        "1",
        "-live_start_index",
        "-1",
        "-i",
        str(playlist),
        "-map",
        "0:v:0",
        "-an",
        "-frames:v",
        "1",
        "-vf",
        f"scale='min({width},iw)':-2",
        "-q:v",
        "5",
        "-update",
        "1",
        "-y",
        "-f",
        "image2",
        str(out),
    ]
