"""Fan-out of one live room: N WebSocket viewers, chat at R messages/s and a like storm, measured
for (a) Fieldcast and (b) a minimal raw `websockets` server that broadcasts pre-encoded frames —
the practical limit of Python WebSockets on this machine — in one run.

(a) Fieldcast as production runs it: the room sockets on one `fieldcast fanout` process, the
    app (uvicorn, one worker, SQLite in a temp dir) taking the chat, both on Redis (database 14
    by default; its fc:* keys are deleted first). `--gateway app` puts the sockets on the app's
    own ASGI gateway instead (in-process room log). A verified host, an organisation, an
    inspected product and a live session are made through the real API; the chat comes from
    ceil(2.5 R) signed-in users through `POST /api/v1/sessions/{id}/chat`, each well inside the
    per-user limit (5, then 1 per 2 s).
(b) `websockets.asyncio.server.serve` + `broadcast()` of one str per event, the same event rate and
    frame size as (a) measured, in its own process.
Viewers live in separate load process(es) (`--load-procs`); 10 % of them send
`{"type":"like","count":n}` (every tenth a flower) once a second. The handshake and the client's
own frames go through websockets' sans-I/O ClientProtocol; received frames are read by a small
parser, because websockets' parser costs ~20 µs a frame and the client would otherwise be the
bottleneck (server frames are unmasked, so the parser is a few lines).

A viewer counts as connected once its snapshot arrived. Delay = receipt time − the frame's `at`
(server publish time; same machine clock), for events published inside the measuring window, on
a fixed sample of viewers. Memory per connection =
server RSS with N idle viewers − RSS before they connected, ÷ N.
Caveat: the machine's cores are shared by server and load processes; the raw limit is measured
under the same handicap, so the ratio is the meaningful number.

Usage: .venv/bin/python bench/fanout.py [--viewers 5000] [--rate 20] [--seconds 20] [--load-procs 1]
       [--only fieldcast|raw] [--gateway fanout|app] [--pin]
Prints a table and, as the last line, one JSON object. Target: 10,000 viewers, p99 < 500 ms,
at least 70 % of the raw limit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import resource
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import orjson

TARGET_VIEWERS, TARGET_P99_MS, TARGET_RATIO = 10_000, 500.0, 0.70
WARMUP_S = 1.5  # traffic runs this long before the measuring window opens
GRACE_S = 3.0  # late frames of window events are still awaited this long
CONNECT_CONCURRENCY = 16  # handshakes in flight per load process (no SYN flood, no DB pool queue)
CONNECT_TIMEOUT_S = 60.0
LIKE_FRACTION = 0.10
HEARTBEAT_S = 25  # the room page's "ping" interval
DELAY_SAMPLE_TARGET = 500  # viewers whose every delay is recorded (spread over the index range)
ADMIN_EMAIL, PASSWORD = "bench-admin@example.com", "bench password 1234"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/14"
CHAT_BODIES = ("蓝莓什么时候发货？", "主播好！靖宇的蓝莓真不错", "已下单，支持助农", "能寄到广东吗", "木耳泡发后多大？")


# -- shared ---------------------------------------------------------------------------------------


def raise_nofile() -> int:
    """Every process holds one descriptor per viewer: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# CPU sets: the process holding the sockets gets a core of its own; the viewers, the app taking
# the chat (when the sockets are on `fieldcast fanout`) and this driver share the others.
SERVER_CPUS: set[int] = set()
OTHER_CPUS: set[int] = set()


def plan_cpus(pin: bool) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if pin and len(cpus) >= 2:
        SERVER_CPUS.update(cpus[:1])
        OTHER_CPUS.update(cpus[1:])
        os.sched_setaffinity(0, OTHER_CPUS)


def cpus_env(server: bool) -> dict[str, str]:
    cpus = SERVER_CPUS if server else OTHER_CPUS
    return {"BENCH_CPUS": ",".join(map(str, sorted(cpus)))} if cpus else {}


def die_with_parent() -> None:
    """A child exits when the bench driver is gone, even if the driver was killed outright."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    sys.stdout.flush()


def _at_epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# -- load process: the viewers ----------------------------------------------------------------------


@dataclass
class LoadStats:
    t0: float = math.inf  # measuring window (epoch seconds)
    t1: float = math.inf
    frames: int = 0  # WebSocket messages received in the window (snapshots excluded)
    messages: int = 0  # events received in the window, counting those inside batches
    batches: int = 0
    bytes: int = 0
    counters: int = 0  # room.counters frames in the window
    event_sizes: list[int] = field(default_factory=list)
    delays_ms: list[float] = field(default_factory=list)
    closes: Counter[str] = field(default_factory=Counter)
    likes_sent: int = 0


class Viewer(asyncio.Protocol):
    """One viewer: websockets' ClientProtocol for the handshake and for what the viewer sends;
    incoming frames are parsed here (see the module docstring for why)."""

    __slots__ = (
        "buf",
        "closing",
        "first",
        "fragments",
        "handshaken",
        "head",
        "opened",
        "proto",
        "sampled",
        "stats",
        "transport",
    )

    def __init__(self, url: str, stats: LoadStats, sampled: bool, opened: asyncio.Future[None]) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.transport: asyncio.Transport | None = None
        self.opened = opened
        self.head = b""  # handshake response bytes until the blank line
        self.buf = b""
        self.first = True
        self.sampled = sampled
        self.stats = stats
        self.fragments: list[bytes] = []
        self.closing = False
        self.handshaken = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.proto.send_request(self.proto.connect())
        self.transport.write(b"".join(self.proto.data_to_send()))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before its snapshot: {exc!r}"))
        elif not self.closing:
            self.stats.closes["dropped"] += 1

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None: ...

    def resume_writing(self) -> None: ...

    def data_received(self, data: bytes) -> None:
        if not self.handshaken:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, rest = self.head[: end + 4], self.head[end + 4 :]
            self.head = b""
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace")))
                return
            self.proto.receive_data(head)  # websockets checks the accept key and headers
            self.proto.events_received()
            if self.proto.handshake_exc is not None:
                self.opened.set_exception(self.proto.handshake_exc)
                return
            self.handshaken = True
            data = rest
        buf = self.buf + data if self.buf else data
        pos, n = 0, len(buf)
        now = time.time()
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, header = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, header = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, header = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + header + length
            if end > n:
                break
            self._frame(b0 & 0x0F, bool(b0 & 0x80), buf[pos + header : end], now)
            pos = end
        self.buf = buf[pos:] if pos < n else b""

    def _frame(self, opcode: int, fin: bool, payload: bytes, now: float) -> None:
        if opcode in (0, 1, 2):
            if not fin:
                self.fragments.append(payload)
                return
            if self.fragments:
                payload = b"".join([*self.fragments, payload])
                self.fragments.clear()
            self._message(payload, now)
        elif opcode == 9:  # ping: servers drop viewers that do not answer
            self.proto.send_pong(payload)
            self.flush()
        elif opcode == 8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.stats.closes[str(code)] += 1
            self.closing = True
            if self.transport is not None:
                self.transport.close()

    def _message(self, payload: bytes, now: float) -> None:
        if self.first:  # the snapshot: only now is the viewer in the room
            self.first = False
            if not self.opened.done():
                self.opened.set_result(None)
            return
        if payload == b'"pong"':
            return
        st = self.stats
        batch = payload[:1] == b"["
        if st.t0 <= now <= st.t1:
            st.frames += 1
            st.bytes += len(payload)
            counters = b'"room.counters"' in payload
            if batch:
                # Events in a batch without parsing it (the load process must not be the
                # bottleneck): every frame's envelope, counters included, has one `"room":` and
                # no event's data has that key (inside JSON strings a quote is escaped).
                st.batches += 1
                st.messages += payload.count(b'"room":')
            else:
                st.messages += 1
                if len(st.event_sizes) < 2000 and payload[:6] == b'{"id":':  # room events, not counters
                    st.event_sizes.append(len(payload))
            st.counters += counters
        if not self.sampled:
            return
        events: list[Any] | None = orjson.loads(payload) if batch else None
        if events is None:
            i = payload.find(b'"at":"')  # the envelope's `at` precedes `data`
            stamps = [payload[i + 6 : payload.index(b'"', i + 6)].decode()] if i >= 0 else []
        else:
            stamps = [e["at"] for e in events if isinstance(e, dict) and "at" in e]
        for stamp in stamps:
            at = _at_epoch(stamp)
            if st.t0 <= at <= st.t1:
                st.delays_ms.append((now - at) * 1000)

    def send_text(self, text: str) -> None:
        if self.transport is None or self.closing or self.transport.is_closing():
            return
        self.proto.send_text(text.encode())
        self.flush()

    def flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.proto.data_to_send()))


async def _open_viewer(
    url: str, host: str, port: int, stats: LoadStats, sampled: bool, gate: asyncio.Semaphore, opened_ones: list[Viewer]
) -> Viewer:
    loop = asyncio.get_running_loop()
    async with gate:
        opened: asyncio.Future[None] = loop.create_future()
        viewer = Viewer(url, stats, sampled, opened)
        await asyncio.wait_for(loop.create_connection(lambda: viewer, host, port), CONNECT_TIMEOUT_S)
        try:
            await asyncio.wait_for(opened, CONNECT_TIMEOUT_S)
        except BaseException:
            if viewer.transport is not None:
                viewer.transport.abort()
            raise
        opened_ones.append(viewer)
        return viewer


async def heartbeat(viewers: list[Viewer]) -> None:
    """Every viewer sends "ping" every HEARTBEAT_S, as the room page does (the server closes
    sockets silent for 75 s); spread over the interval so it is not a burst."""
    tick = 0
    while True:
        for viewer in viewers[tick % HEARTBEAT_S :: HEARTBEAT_S]:
            viewer.send_text('"ping"')
        tick += 1
        await asyncio.sleep(1.0)


async def like_storm(likers: list[Viewer], stats: LoadStats, until: float) -> None:
    """Each liker sends a like (every tenth: a flower) once a second, spread over the second."""
    slices = 20
    tick = 0
    while time.time() < until:
        for viewer in likers[tick % slices :: slices]:
            kind = "flower" if random.random() < 0.1 else "like"
            viewer.send_text(f'{{"type":"{kind}","count":{random.randint(1, 10)}}}')
            stats.likes_sent += 1
        tick += 1
        await asyncio.sleep(1.0 / slices)


async def run_load(args: argparse.Namespace) -> None:
    raise_nofile()
    die_with_parent()
    from urllib.parse import urlsplit

    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    stats = LoadStats()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    sample_every = max(1, args.total_viewers // DELAY_SAMPLE_TARGET)
    indexes = range(args.first_index, args.first_index + args.viewers)
    started = time.monotonic()
    opened_ones: list[Viewer] = []
    pinger = asyncio.create_task(heartbeat(opened_ones))
    tasks = [
        asyncio.create_task(_open_viewer(args.url, host, port, stats, i % sample_every == 0, gate, opened_ones))
        for i in indexes
    ]
    await asyncio.wait(tasks, timeout=args.connect_s)  # viewers not in by then are left out
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    viewers = [r for r in results if isinstance(r, Viewer)]
    errors = Counter(
        f"not connected within {args.connect_s:g} s"
        if isinstance(r, asyncio.CancelledError)
        else f"{type(r).__name__}: {r}"[:120]
        for r in results
        if isinstance(r, BaseException)
    )
    emit(
        {
            "phase": "connected",
            "ok": len(viewers),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(5)),
            "connect_s": round(time.monotonic() - started, 2),
        }
    )
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line.startswith("go"):
        return
    _, t0, t1 = line.split()
    stats.t0, stats.t1 = float(t0), float(t1)
    likers = viewers[:: max(1, round(1 / LIKE_FRACTION))] if args.likes else []
    storm = asyncio.create_task(like_storm(likers, stats, stats.t1))
    await asyncio.sleep(max(0.0, stats.t1 + GRACE_S - time.time()))
    for background in (storm, pinger):
        background.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await background
    still_open = sum(1 for v in viewers if v.transport is not None and not v.transport.is_closing())
    emit(
        {
            "phase": "done",
            "frames": stats.frames,
            "messages": stats.messages,
            "batches": stats.batches,
            "bytes": stats.bytes,
            "counters": stats.counters,
            "event_sizes": stats.event_sizes,
            "delays_ms": [round(d, 2) for d in stats.delays_ms],
            "closes": dict(stats.closes),
            "likes_sent": stats.likes_sent,
            "still_open": still_open,
        }
    )
    for viewer in viewers:
        viewer.closing = True
        if viewer.transport is not None:
            viewer.transport.abort()


# -- the servers ----------------------------------------------------------------------------------


def run_app(args: argparse.Namespace) -> None:
    """Fieldcast as `fieldcast serve` runs it (one worker), without per-connection log lines."""
    raise_nofile()
    die_with_parent()
    import uvicorn

    from fieldcast.app import create_app
    from fieldcast.cli import UVICORN_OPTIONS
    from fieldcast.config import load_settings

    settings = load_settings()  # FIELDCAST_* from the driver
    options = dict(UVICORN_OPTIONS)
    if os.environ.get("BENCH_WS_IMPL"):  # compare uvicorn's WebSocket implementations
        options["ws"] = os.environ["BENCH_WS_IMPL"]
    uvicorn.run(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning", **options)  # type: ignore[arg-type]


def run_fanout_server(args: argparse.Namespace) -> None:
    """The room sockets' own process, as `fieldcast fanout` runs it."""
    raise_nofile()
    die_with_parent()
    import logging

    import uvloop

    from fieldcast.bootstrap import core_context
    from fieldcast.config import load_settings
    from fieldcast.realtime.fanout import run_fanout

    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()  # FIELDCAST_* from the driver
    uvloop.run(run_fanout(core_context(settings), "127.0.0.1", settings.fanout_port))


def _raw_event(event_id: int, kind: str, data: str) -> str:
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return f'{{"id":{event_id},"type":"{kind}","room":1,"at":"{at}","data":{data}}}'


async def run_raw(args: argparse.Namespace) -> None:
    """The practical limit: one set of connections, one encoded str per event, `broadcast()`."""
    raise_nofile()
    die_with_parent()
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    connections: set[ServerConnection] = set()
    totals = {"like": 0, "flower": 0}

    async def viewer(ws: ServerConnection) -> None:
        connections.add(ws)
        try:
            await ws.send('{"type":"snapshot","room":1,"last_id":0,"data":{}}')
            async for message in ws:
                if message == '"ping"':
                    await ws.send('"pong"')
                    continue
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    body = orjson.loads(message)
                    if body.get("type") in totals:
                        totals[body["type"]] += min(50, int(body["count"]))
        finally:
            connections.discard(ws)

    async def counters(until: float, event_ids: list[int]) -> None:
        while time.time() < until:
            await asyncio.sleep(1.0 / args.counters_hz)
            event_ids[0] += 1
            data = f'{{"likes":{totals["like"]},"flowers":{totals["flower"]}}}'
            broadcast(connections, _raw_event(event_ids[0], "room.counters", data))

    async with serve(viewer, "127.0.0.1", args.port, compression=None, max_size=4096):
        emit({"phase": "ready"})
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line.startswith("go"):
            return
        t0, until = (float(x) for x in line.split()[1:3])
        event_ids = [0]
        pad = "x" * max(0, args.payload_bytes - len(_raw_event(0, "chat.posted", '{"body":""}')))
        tick = asyncio.create_task(counters(until, event_ids)) if args.counters_hz > 0 else None
        next_at = time.time()
        chat = 0
        while time.time() < until:
            event_ids[0] += 1
            chat += 1 if t0 <= time.time() <= until else 0
            broadcast(connections, _raw_event(event_ids[0], "chat.posted", f'{{"body":"{pad}"}}'))
            next_at += 1.0 / args.rate
            await asyncio.sleep(max(0.0, next_at - time.time()))
        if tick is not None:
            await tick
        emit({"phase": "published", "events": chat})
        await asyncio.to_thread(sys.stdin.readline)


# -- driver ---------------------------------------------------------------------------------------


@dataclass
class PathResult:
    name: str
    viewers: int = 0
    connected: int = 0
    failed: int = 0
    connect_errors: dict[str, int] = field(default_factory=dict)
    connect_s: float = 0.0
    published: int = 0
    published_in_window: int = 0  # publishes that completed inside the measuring window
    post_ms: list[float] = field(default_factory=list)  # chat POST response times
    t0: float = math.inf
    t1: float = math.inf
    loadavg: str = ""
    rejected: int = 0
    frames: int = 0
    messages: int = 0
    batches: int = 0
    counters: int = 0
    event_sizes: list[int] = field(default_factory=list)
    delays_ms: list[float] = field(default_factory=list)
    closes: Counter[str] = field(default_factory=Counter)
    likes_sent: int = 0
    rss_before_kib: int = 0
    rss_idle_kib: int = 0
    rss_after_kib: int = 0
    server_cpu: float = 0.0  # the process holding the sockets
    load_cpu: float = 0.0
    app_cpu: float = 0.0  # the app process taking the chat, when the sockets are on `fanout`
    note: str = ""
    error: str | None = None


class Procs:
    """The child processes of this run, stopped on every way out."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, *argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
            limit=1 << 28,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    async def stop_all(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self.procs.clear()


async def read_json(proc: asyncio.subprocess.Process, wait_s: float) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), wait_s)
        if not line:
            raise RuntimeError(f"child {proc.pid} exited ({await proc.wait()})")
        if line.startswith(b"{"):
            result: dict[str, Any] = orjson.loads(line)
            return result


async def wait_port(port: int, proc: asyncio.subprocess.Process, wait_s: float = 60.0) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"server on port {port} did not start")


def _check(r: httpx.Response, what: str) -> dict[str, Any]:
    if r.status_code >= 400:
        raise RuntimeError(f"{what}: HTTP {r.status_code} {r.text[:300]}")
    body: dict[str, Any] = r.json() if r.content else {}
    return body


async def signed_up(base_url: str, email: str, name: str) -> tuple[httpx.AsyncClient, int]:
    client = httpx.AsyncClient(base_url=base_url, timeout=30.0)
    user = _check(
        await client.post("/api/v1/auth/signup", json={"email": email, "display_name": name, "password": PASSWORD}),
        "sign up",
    )
    client.headers["X-CSRF-Token"] = (await client.get("/api/v1/auth/csrf")).json()["csrf_token"]
    return client, int(user["id"])


async def set_up_room(base_url: str, clients: list[httpx.AsyncClient]) -> tuple[int, httpx.AsyncClient, int]:
    """Through the API, as tests/live/factory.py does: an organisation, a host verified by the
    admin and invited by the owner, an inspected published product, a scheduled session, started.
    Returns the session id, the host's client and the shelf's SKU id."""
    from fieldcast.accounts.security import id_number_with_check_digit

    admin = httpx.AsyncClient(base_url=base_url, timeout=30.0)
    clients.append(admin)
    _check(await admin.post("/api/v1/auth/signin", json={"email": ADMIN_EMAIL, "password": PASSWORD}), "admin sign-in")
    admin.headers["X-CSRF-Token"] = (await admin.get("/api/v1/auth/csrf")).json()["csrf_token"]
    slug = f"bench-{secrets.token_hex(3)}"
    owner, _ = await signed_up(base_url, f"owner@{slug}.example.com", "负责人")
    host, host_id = await signed_up(base_url, f"host@{slug}.example.com", "第一书记")
    clients += [owner, host]
    org = _check(
        await owner.post("/api/v1/organisations", json={"slug": slug, "name": "靖宇蓝莓合作社", "kind": "cooperative"}),
        "organisation",
    )
    invite = _check(
        await owner.post(
            f"/api/v1/organisations/{slug}/invitations", json={"email": f"host@{slug}.example.com", "role": "host"}
        ),
        "invite host",
    )
    _check(await host.post("/api/v1/invitations/accept", json={"token": invite["token"]}), "accept invitation")
    verification = _check(
        await host.post(
            "/api/v1/me/verifications",
            json={
                "legal_name": "测试人",
                "id_number": id_number_with_check_digit("11010119800101042"),
                "host_kind": "first_secretary",
                "position_title": "驻村第一书记",
                "jurisdiction": "吉林省靖宇县",
                "evidence_note": "县委组织部任命文件，单位电话可查。",
            },
        ),
        "verification",
    )
    _check(
        await admin.post(f"/api/v1/verifications/{verification['id']}/approve", json={"reason": "checked"}),
        "approve host",
    )
    supplier = _check(
        await owner.post(
            f"/api/v1/organisations/{slug}/suppliers",
            json={
                "name": "山货合作社",
                "kind": "cooperative",
                "ship_from_region": "220622",
                "contact_name": "王",
                "contact_phone": "0439-1234567",
            },
        ),
        "supplier",
    )
    product = _check(
        await owner.post(
            f"/api/v1/organisations/{slug}/products",
            json={
                "supplier_id": supplier["id"],
                "title": "靖宇蓝莓 5斤装",
                "description": "长白山脚下的野生蓝莓，当天采摘，冷链发货。",
                "category": "fresh_produce",
                "origin_region": "220622",
                "skus": [
                    {"spec_label": "5斤装", "price_fen": 9900, "weight_g": 2500, "shelf_life_days": 7, "stock": 100000}
                ],
            },
        ),
        "product",
    )
    _check(
        await admin.post(
            f"/api/v1/products/{product['id']}/inspections",
            json={
                "sample_date": "2026-11-01",
                "lab_name": "靖宇县市场监督管理局检测中心",
                "certificate_no": "JY-2026-0042",
                "items_checked": ["农药残留", "重金属"],
                "result": "pass",
                "valid_until": "2099-12-31",
            },
        ),
        "inspection",
    )
    _check(await owner.post(f"/api/v1/products/{product['id']}/publish", json={}), "publish")
    sku_id = int(product["skus"][0]["id"])
    live = _check(
        await owner.post(
            "/api/v1/sessions",
            json={
                "organisation_id": org["id"],
                "title": "靖宇蓝莓助农直播（压测）",
                "scheduled_at": (datetime.now(UTC) + timedelta(minutes=30)).isoformat(),
                "host_ids": [host_id],
                "shelf": [{"sku_id": sku_id, "live_price_fen": 7900, "session_stock": 50000}],
            },
        ),
        "schedule",
    )
    _check(await host.post(f"/api/v1/sessions/{live['id']}/start"), "start")
    return int(live["id"]), host, sku_id


async def make_chatters(base_url: str, count: int, clients: list[httpx.AsyncClient]) -> list[httpx.AsyncClient]:
    gate = asyncio.Semaphore(4)
    tag = secrets.token_hex(3)

    async def one(i: int) -> httpx.AsyncClient:
        async with gate:
            client, _ = await signed_up(base_url, f"viewer{i}-{tag}@example.com", f"观众{i}")
            clients.append(client)
            return client

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def drive_chat(
    chatters: list[httpx.AsyncClient], session_id: int, rate: float, until: float, result: PathResult
) -> None:
    """R comments a second, round-robin over the chatters (each one every len/R seconds)."""
    in_flight: set[asyncio.Task[None]] = set()
    gate = asyncio.Semaphore(64)

    async def post(client: httpx.AsyncClient, n: int) -> None:
        async with gate:
            sent = time.monotonic()
            try:
                r = await client.post(
                    f"/api/v1/sessions/{session_id}/chat", json={"body": f"{CHAT_BODIES[n % len(CHAT_BODIES)]} #{n}"}
                )
                if r.status_code == 201:
                    result.published += 1
                    result.post_ms.append((time.monotonic() - sent) * 1000)
                    if result.t0 <= time.time() <= result.t1:
                        result.published_in_window += 1
                else:
                    result.rejected += 1
                    result.note = f"chat HTTP {r.status_code}: {r.text[:120]}"
            except httpx.HTTPError as exc:
                result.rejected += 1
                result.note = f"chat {exc!r}"[:160]

    n = 0
    next_at = time.time()
    while time.time() < until:
        task = asyncio.create_task(post(chatters[n % len(chatters)], n))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        n += 1
        next_at += 1.0 / rate
        await asyncio.sleep(max(0.0, next_at - time.time()))
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)


async def drive_pins(
    host: httpx.AsyncClient, session_id: int, sku_id: int, rate: float, until: float, result: PathResult
) -> None:
    """Fallback when the chat API is missing: the host pins/unpins at R/s (session.pinned events)."""
    n = 0
    next_at = time.time()
    while time.time() < until:
        if n % 2:
            r = await host.delete(f"/api/v1/sessions/{session_id}/pin")
        else:
            r = await host.post(f"/api/v1/sessions/{session_id}/pin", json={"sku_id": sku_id})
        if r.status_code < 300:
            result.published += 1
            if result.t0 <= time.time() <= result.t1:
                result.published_in_window += 1
        else:
            result.rejected += 1
        n += 1
        next_at += 1.0 / rate
        await asyncio.sleep(max(0.0, next_at - time.time()))


async def clear_rooms(redis_url: str) -> None:
    """Room ids restart with the bench's fresh database; Redis would keep the last run's rooms
    (their counters, their logs). The bench's Redis database is its own (--redis-url)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter("fc:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def run_viewers(
    procs: Procs,
    url: str,
    args: argparse.Namespace,
    server_pid: int,
    result: PathResult,
    publish: Any,
    app_pid: int | None = None,
) -> None:
    """Connect the viewers, measure idle memory, open the window, drive traffic, collect."""
    k = max(1, args.load_procs)
    share = [args.viewers // k + (1 if i < args.viewers % k else 0) for i in range(k)]
    loads = []
    first = 0
    for n in share:
        loads.append(
            await procs.start(
                "--connect-s",
                str(args.connect_s),
                "--role",
                "load",
                "--url",
                url,
                "--viewers",
                str(n),
                "--first-index",
                str(first),
                "--total-viewers",
                str(args.viewers),
                *([] if args.likes else ["--no-likes"]),
            )
        )
        first += n
    result.viewers = args.viewers
    result.loadavg = " ".join(f"{x:.1f}" for x in os.getloadavg())
    connect_timeout = args.connect_s + 30
    hellos = []
    for proc in loads:
        hello = await read_json(proc, connect_timeout)
        hellos.append(hello)
        result.connected += hello["ok"]
        result.failed += hello["failed"]
        result.connect_s = max(result.connect_s, hello["connect_s"])
        for k_, v in hello["errors"].items():
            result.connect_errors[k_] = result.connect_errors.get(k_, 0) + v
    await asyncio.sleep(2.0)  # let the accept path settle before reading memory
    result.rss_idle_kib = rss_kib(server_pid)
    now = time.time()
    t0, t1 = now + WARMUP_S, now + WARMUP_S + args.seconds
    result.t0, result.t1 = t0, t1
    for proc in loads:
        assert proc.stdin is not None
        proc.stdin.write(f"go {t0} {t1}\n".encode())
        await proc.stdin.drain()
    publisher = asyncio.create_task(publish(t1))  # traffic starts WARMUP_S before the window
    await asyncio.sleep(max(0.0, t0 - time.time()))
    cpu0 = cpu_s(server_pid), sum(cpu_s(p.pid) for p in loads), cpu_s(app_pid) if app_pid else 0.0
    await asyncio.sleep(max(0.0, t1 - time.time()))
    cpu1 = cpu_s(server_pid), sum(cpu_s(p.pid) for p in loads), cpu_s(app_pid) if app_pid else 0.0
    result.server_cpu = (cpu1[0] - cpu0[0]) / args.seconds
    result.load_cpu = (cpu1[1] - cpu0[1]) / args.seconds
    result.app_cpu = (cpu1[2] - cpu0[2]) / args.seconds
    result.rss_after_kib = rss_kib(server_pid)
    await publisher
    for proc, hello in zip(loads, hellos, strict=True):
        done = await read_json(proc, GRACE_S + 60)
        result.frames += done["frames"]
        result.messages += done["messages"]
        result.batches += done["batches"]
        result.counters += done["counters"]
        result.event_sizes += done["event_sizes"]
        result.delays_ms += done["delays_ms"]
        result.closes.update(done["closes"])
        result.likes_sent += done["likes_sent"]
        if done["still_open"] < hello["ok"]:
            result.closes["not open at end"] += hello["ok"] - done["still_open"]


async def run_fieldcast(args: argparse.Namespace, root: Path) -> PathResult:
    from fieldcast.cli import ensure_admin
    from fieldcast.config import Settings
    from fieldcast.db.migrate import upgrade

    result = PathResult("fieldcast")
    port, fanout_port = free_port(), free_port()
    fanout = args.gateway == "fanout"
    redis_url = args.redis_url or (BENCH_REDIS_URL if fanout else "")
    settings = Settings(data_dir=root / "fieldcast", port=port, redis_url=redis_url)
    settings.data_dir.mkdir(parents=True)
    await asyncio.to_thread(upgrade, settings.sqlalchemy_url)  # Alembic runs its own event loop
    await ensure_admin(settings, email=ADMIN_EMAIL, display_name="Bench", password=PASSWORD)
    procs = Procs()
    clients: list[httpx.AsyncClient] = []
    try:
        env = {
            "FIELDCAST_DATA_DIR": str(settings.data_dir),
            "FIELDCAST_PORT": str(port),
            "FIELDCAST_FANOUT_PORT": str(fanout_port),
            "FIELDCAST_REDIS_URL": redis_url,
        }
        if redis_url:
            await clear_rooms(redis_url)
        app = await procs.start("--role", "app", env=env | cpus_env(server=not fanout))
        await wait_port(port, app)
        server, ws_base = app, f"ws://127.0.0.1:{port}"
        if fanout:  # viewers connect to the room sockets' own process; the app takes the chat
            server = await procs.start("--role", "fanout", env=env | cpus_env(server=True))
            await wait_port(fanout_port, server)
            ws_base = f"ws://127.0.0.1:{fanout_port}"
        result.note = f"room sockets on {'fieldcast fanout' if fanout else 'the app (ASGI)'}"
        base_url = f"http://127.0.0.1:{port}"
        session_id, host, sku_id = await set_up_room(base_url, clients)
        probe = await host.post(f"/api/v1/sessions/{session_id}/chat", json={"body": "欢迎来到直播间"})
        if probe.status_code == 201:
            chatters = await make_chatters(base_url, math.ceil(args.rate * 2.5), clients)
            result.note += f"; chat from {len(chatters)} signed-in users"

            async def publish(until: float) -> None:
                await drive_chat(chatters, session_id, args.rate, until, result)

        else:
            result.note += f"; chat API missing (HTTP {probe.status_code}): host pins at R/s instead"

            async def publish(until: float) -> None:
                await drive_pins(host, session_id, sku_id, args.rate, until, result)

        await asyncio.sleep(1.0)
        result.rss_before_kib = rss_kib(server.pid)
        url = f"{ws_base}/ws/rooms/{session_id}"
        await run_viewers(procs, url, args, server.pid, result, publish, app_pid=app.pid if fanout else None)
    except Exception as exc:  # a failed path is reported; the other still runs
        result.error = repr(exc)[:300]
    finally:
        for client in clients:
            await client.aclose()
        await procs.stop_all()
    return result


async def run_raw_path(args: argparse.Namespace, payload_bytes: int, counters_hz: float) -> PathResult:
    result = PathResult("raw")
    port = free_port()
    procs = Procs()
    try:
        server = await procs.start(
            "--role",
            "raw",
            "--port",
            str(port),
            "--rate",
            str(args.rate),
            "--payload-bytes",
            str(payload_bytes),
            "--counters-hz",
            str(counters_hz),
            env=cpus_env(server=True),
        )
        await read_json(server, 30)
        await asyncio.sleep(0.5)
        result.rss_before_kib = rss_kib(server.pid)
        result.note = f"{payload_bytes} B frames" + (f", counters {counters_hz:g}/s" if counters_hz else "")

        async def publish(until: float) -> None:
            assert server.stdin is not None
            server.stdin.write(f"go {result.t0} {until}\n".encode())
            await server.stdin.drain()
            done = await read_json(server, args.seconds + 60)
            result.published = result.published_in_window = done["events"]

        await run_viewers(procs, f"ws://127.0.0.1:{port}/", args, server.pid, result, publish)
    except Exception as exc:
        result.error = repr(exc)[:300]
    finally:
        await procs.stop_all()
    return result


# -- report -----------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def summarise(r: PathResult, seconds: float) -> dict[str, Any]:
    return {
        "viewers": r.viewers,
        "connected": r.connected,
        "failed": r.failed,
        "connect_s": r.connect_s,
        "events_per_s": round(r.published_in_window / seconds, 1),
        "post_p50_ms": round(_pct(r.post_ms, 0.5), 1) if r.post_ms else None,
        "post_p99_ms": round(_pct(r.post_ms, 0.99), 1) if r.post_ms else None,
        "loadavg": r.loadavg,
        "msgs_per_s": round(r.messages / seconds),
        "frames_per_s": round(r.frames / seconds),
        "batched_frames": r.batches,
        "p50_ms": round(_pct(r.delays_ms, 0.50), 1),
        "p99_ms": round(_pct(r.delays_ms, 0.99), 1),
        "max_ms": round(max(r.delays_ms), 1) if r.delays_ms else float("nan"),
        "delay_samples": len(r.delays_ms),
        "kib_per_conn": round((r.rss_idle_kib - r.rss_before_kib) / r.connected, 1) if r.connected else float("nan"),
        "rss_mib": round(r.rss_after_kib / 1024, 1),
        "server_cpu": round(r.server_cpu, 2),
        "load_cpu": round(r.load_cpu, 2),
        "app_cpu": round(r.app_cpu, 2),
        "closes": dict(r.closes),
        "likes_sent": r.likes_sent,
        "counters_frames": r.counters,
        "rejected": r.rejected,
        "note": r.note,
        "error": r.error,
    }


def print_report(args: argparse.Namespace, rows: dict[str, dict[str, Any]]) -> None:
    print(
        f"one room, {args.viewers} viewers, chat {args.rate:g}/s, likes from {LIKE_FRACTION:.0%} of viewers "
        f"1/s, {args.seconds:g} s window, {os.cpu_count()} cores: "
        + (
            f"socket server on CPU {sorted(SERVER_CPUS)}, load, app and driver on {sorted(OTHER_CPUS)}"
            if SERVER_CPUS
            else "shared by server and load"
        )
    )
    cols = (
        "viewers",
        "conn",
        "fail",
        "chat/s",
        "msgs/s",
        "frames/s",
        "p50 ms",
        "p99 ms",
        "KiB/conn",
        "RSS MiB",
        "srv CPU",
        "load CPU",
    )
    print(f"{'server':<10}" + "".join(f"{c:>10}" for c in cols))
    for name, r in rows.items():
        if r.get("error"):
            print(f"{name:<10}  failed: {r['error']}")
        values = (
            r["viewers"],
            r["connected"],
            r["failed"],
            r["events_per_s"],
            r["msgs_per_s"],
            r["frames_per_s"],
            r["p50_ms"],
            r["p99_ms"],
            r["kib_per_conn"],
            r["rss_mib"],
            r["server_cpu"],
            r["load_cpu"],
        )
        print(f"{name:<10}" + "".join(f"{v:>10}" for v in values))
    for name, r in rows.items():
        extra = f"connect {r['connect_s']} s; batched frames {r['batched_frames']}; closes {r['closes'] or '-'}; "
        extra += f"likes sent {r['likes_sent']}; counters frames {r['counters_frames']}; {r['note']}"
        if r["app_cpu"]:
            extra += f"; app process CPU {r['app_cpu']}"
        if r["post_p50_ms"] is not None:
            extra += f"; chat POST p50/p99 {r['post_p50_ms']}/{r['post_p99_ms']} ms"
        extra += f"; load average before {r['loadavg']}"
        if r["rejected"]:
            extra += f"; rejected publishes {r['rejected']}"
        print(f"  {name}: {extra}")


async def main(args: argparse.Namespace) -> None:
    from fieldcast.config import load_settings

    raise_nofile()
    plan_cpus(args.pin)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="fieldcast-fanout-") as tmp:
        payload_bytes, counters_hz = 330, 0.0
        if args.only in (None, "fieldcast"):
            fc = await run_fieldcast(args, Path(tmp))
            rows["fieldcast"] = summarise(fc, args.seconds)
            if fc.event_sizes:  # the raw server sends frames of the size Fieldcast's events had
                payload_bytes = round(statistics.median(fc.event_sizes))
            counters_hz = 4.0 if fc.counters else 0.0
        elif "like" in Path(__file__).parent.parent.joinpath("src/fieldcast/realtime/gateway.py").read_text():
            counters_hz = 4.0
        if args.raw_counters_hz is not None:
            counters_hz = args.raw_counters_hz
        if args.only in (None, "raw"):
            # One after the other: the two servers would otherwise compete for the same cores.
            rows["raw"] = summarise(await run_raw_path(args, payload_bytes, counters_hz), args.seconds)
    print_report(args, rows)
    fc_row, raw_row = rows.get("fieldcast", {}), rows.get("raw", {})
    # `ratio` compares delivered events (inside batches counted one by one): what a viewer gets;
    # `frames_ratio` compares WebSocket frames, as the issue's target does. Fieldcast batches per
    # socket when events pile up, so its frames/s sits below its messages/s by design. The
    # target holds when both reach TARGET_RATIO.
    ratio = frames_ratio = None
    if fc_row.get("msgs_per_s") and raw_row.get("msgs_per_s"):
        ratio = round(fc_row["msgs_per_s"] / raw_row["msgs_per_s"], 3)
        frames_ratio = round(fc_row["frames_per_s"] / raw_row["frames_per_s"], 3)
        print(
            f"ratio fieldcast/raw: delivered msgs/s {ratio:.2f}, frames/s {frames_ratio:.2f} "
            f"(target ≥ {TARGET_RATIO:.2f} at {TARGET_VIEWERS} viewers with p99 < {TARGET_P99_MS:.0f} ms)"
        )
    summary: dict[str, Any] = {
        "viewers": args.viewers,
        "rate": args.rate,
        "seconds": args.seconds,
        "load_procs": args.load_procs,
        "gateway": args.gateway,
        "pinned": bool(SERVER_CPUS),
        "sweep_rest": load_settings().room_sweep_rest,  # FIELDCAST_ROOM_SWEEP_REST, as the servers read it
        "p50_ms": fc_row.get("p50_ms"),
        "p99_ms": fc_row.get("p99_ms"),
        "msgs_per_s": fc_row.get("msgs_per_s"),
        "frames_per_s": fc_row.get("frames_per_s"),
        "kib_per_conn": fc_row.get("kib_per_conn"),
        "events_per_s": fc_row.get("events_per_s"),
        "connected": fc_row.get("connected"),
        "failed": fc_row.get("failed"),
        "raw_p50_ms": raw_row.get("p50_ms"),
        "raw_p99_ms": raw_row.get("p99_ms"),
        "raw_msgs_per_s": raw_row.get("msgs_per_s"),
        "raw_frames_per_s": raw_row.get("frames_per_s"),
        "raw_kib_per_conn": raw_row.get("kib_per_conn"),
        "raw_connected": raw_row.get("connected"),
        "ratio": ratio,
        "frames_ratio": frames_ratio,
    }
    if fc_row.get("p99_ms") is not None and ratio is not None:
        summary["within_target"] = (
            args.viewers >= TARGET_VIEWERS
            and fc_row["p99_ms"] < TARGET_P99_MS
            and ratio >= TARGET_RATIO
            and frames_ratio is not None
            and frames_ratio >= TARGET_RATIO
        )
    for name, row in rows.items():
        if row.get("error"):
            summary[f"{name}_error"] = row["error"]
    print(orjson.dumps(summary).decode())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=5000, help="WebSocket viewers in the room")
    parser.add_argument("--rate", type=float, default=20.0, help="chat messages published per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window per server")
    parser.add_argument("--load-procs", type=int, default=1, help="processes the viewers are split over")
    parser.add_argument("--only", choices=["fieldcast", "raw"], default=None)
    parser.add_argument(
        "--connect-s", type=float, default=120.0, help="time allowed for connecting; late viewers are left out"
    )
    parser.add_argument("--no-likes", dest="likes", action="store_false", help="no like storm")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="give the socket server the first core alone and run load, app and driver on the rest "
        "(on 2 cores this starves the load process; worth it with 4 or more)",
    )
    parser.add_argument(
        "--gateway",
        choices=["fanout", "app"],
        default="fanout",
        help="who holds Fieldcast's room sockets: `fieldcast fanout` (production; needs Redis) or the app itself",
    )
    parser.add_argument(
        "--redis-url",
        default="",
        help=f"Redis for Fieldcast (default {BENCH_REDIS_URL} with fanout, in-process with app); its fc:* keys are "
        "deleted first",
    )
    parser.add_argument(
        "--raw-counters-hz",
        type=float,
        default=None,
        help="room.counters frames/s the raw server adds (default: 4 if Fieldcast sent any)",
    )
    # internal: the child processes run this same file
    parser.add_argument(
        "--role", choices=["main", "app", "fanout", "raw", "load"], default="main", help=argparse.SUPPRESS
    )
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--first-index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--total-viewers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--payload-bytes", type=int, default=330, help=argparse.SUPPRESS)
    parser.add_argument("--counters-hz", type=float, default=0.0, help=argparse.SUPPRESS)
    return parser.parse_args()


def _run(args: argparse.Namespace) -> None:
    if os.environ.get("BENCH_CPUS"):
        os.sched_setaffinity(0, {int(c) for c in os.environ["BENCH_CPUS"].split(",")})
    if args.role == "app":
        run_app(args)
        return
    if args.role == "fanout":
        run_fanout_server(args)
        return
    import uvloop  # same event loop as uvicorn[standard] gives the app server

    coro = {"main": main, "raw": run_raw, "load": run_load}[args.role](args)
    uvloop.run(coro)


if __name__ == "__main__":
    try:
        _run(parse_args())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
