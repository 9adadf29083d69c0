"""`fieldcast backup` and `fieldcast restore` on real processes: a backup taken while `fieldcast
serve` runs and a writer keeps signing people up holds everything committed before it started, and
restored into a fresh data folder it serves again (accounts, sessions signed with the generated
key, media, replays). Corrupt, foreign and hostile archives, an existing database and PostgreSQL
are refused with a message and exit code 2."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

import fieldcast
from tests.conftest import free_port
from tests.factories import PASSWORD

pytestmark = pytest.mark.timeout(120)

CLI_TIMEOUT_S = 60.0
SERVER_START_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 10.0
MEDIA_FILE = Path("products/1f2e3d4c.webp")
REPLAY_FILES = (Path("a1b2c3/index.m3u8"), Path("a1b2c3/seg-00000.ts"))


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The inherited environment minus any FIELDCAST_* a developer has set: the embedded mode on
    `data_dir`, with a generated secret key (FIELDCAST_SECRET_KEY unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDCAST_")}
    env.update(
        FIELDCAST_DATA_DIR=str(data_dir),
        FIELDCAST_DATABASE_URL="",
        FIELDCAST_REDIS_URL="",
        FIELDCAST_DEMO_STREAMS="false",
        FIELDCAST_DEMO_AUDIENCE="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def fieldcast_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldcast", *args],
        env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False,
    )


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit code 2 with a message naming `words` on stderr, and no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@contextlib.contextmanager
def serving(data_dir: Path) -> Iterator[str]:
    """A `fieldcast serve` process on `data_dir` and a free loopback port; yields its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = data_dir.parent / f"serve-{data_dir.name}.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "fieldcast", "serve"],
            env=cli_env(data_dir, FIELDCAST_HOST="127.0.0.1", FIELDCAST_PORT=str(port)),
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while True:
                assert server.poll() is None, f"fieldcast serve exited:\n{log_path.read_text()[-4000:]}"
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200:
                        break
                assert time.monotonic() < deadline, f"no /healthz 200:\n{log_path.read_text()[-4000:]}"
                time.sleep(0.1)
            yield base_url
        finally:
            _stop(server)


def sign_up(client: httpx.Client, email: str) -> None:
    r = client.post("/api/v1/auth/signup", json={"email": email, "display_name": "备份测试", "password": PASSWORD})
    assert r.status_code == 201, r.text


@dataclass
class Writer:
    """Signs people up, one after another, until stopped; remembers when each sign-up was sent and
    when it was committed."""

    base_url: str
    committed: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, committed, email)
    errors: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=HTTP_TIMEOUT_S) as client:
                n = 0
                while not self.stop.is_set():
                    email = f"writer-{n}@backup.example.com"
                    sent = time.monotonic()
                    sign_up(client, email)
                    client.cookies.clear()
                    self.committed.append((sent, time.monotonic(), email))  # 201 comes after the commit
                    n += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.errors.append(exc)


@dataclass(frozen=True)
class TakenBackup:
    source: Path
    archive: Path
    committed_before: list[str]
    written_during: list[str]
    session_cookie: str


def write_files(data_dir: Path) -> None:
    """One uploaded image, one replay and a live HLS folder (transient: not backed up)."""
    targets = [data_dir / "media" / MEDIA_FILE] + [data_dir / "hls" / "replay" / p for p in REPLAY_FILES]
    for path in [*targets, data_dir / "hls" / "live" / "x9y8" / "index.m3u8"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(50_000) + path.name.encode())


def user_emails(database: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return {str(row[0]) for row in conn.execute("SELECT email FROM users")}


def integrity(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def read_members(archive: Path) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            data = tar.extractfile(member)
            assert data is not None, member.name  # only regular files in a backup
            members[member.name] = data.read()
    return members


def tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def taken(tmp_path_factory: pytest.TempPathFactory) -> TakenBackup:
    """Migrate, serve, sign people up, then back up while a writer keeps signing more up."""
    root = tmp_path_factory.mktemp("backup")
    source, archive = root / "source", root / "out" / "fieldcast.tar.gz"
    migrated = fieldcast_cli(cli_env(source), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    write_files(source)
    with serving(source) as base_url:
        with httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT_S) as first:
            sign_up(first, "first@backup.example.com")
            cookie = first.cookies["fc_session"]
        writer = Writer(base_url)
        thread = threading.Thread(target=writer.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while len(writer.committed) < 3 and not writer.errors:
                assert time.monotonic() < deadline, "the writer did not get going"
                time.sleep(0.05)
            started = time.monotonic()
            done = fieldcast_cli(cli_env(source), "backup", "--out", str(archive))
            finished = time.monotonic()
            # The sign-up in flight while the backup ran (the writer never pauses) lands after it:
            # wait for it, however slow sign-ups are on a loaded machine.
            while not any(at > finished for _, at, _ in writer.committed) and not writer.errors:
                assert time.monotonic() < finished + HTTP_TIMEOUT_S, "the writer stalled"
                time.sleep(0.05)
        finally:
            writer.stop.set()
            thread.join(timeout=HTTP_TIMEOUT_S + 5)
        assert not thread.is_alive() and not writer.errors, writer.errors
    assert done.returncode == 0, (done.stdout, done.stderr)
    return TakenBackup(
        source=source,
        archive=archive,
        committed_before=["first@backup.example.com"] + [e for _, at, e in writer.committed if at < started],
        # In flight while the backup ran: sent before it finished, committed after it started.
        written_during=[e for sent, at, e in writer.committed if sent <= finished and at >= started],
        session_cookie=cookie,
    )


def test_the_archive_is_private_and_describes_itself(taken: TakenBackup) -> None:
    assert taken.archive.stat().st_mode & 0o777 == 0o600  # it holds the secret key
    members = read_members(taken.archive)
    manifest = json.loads(members["manifest.json"])
    with contextlib.closing(sqlite3.connect(taken.source / "fieldcast.sqlite3")) as conn:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert manifest["format"] == "fieldcast-backup" and manifest["format_version"] == 1
    assert manifest["fieldcast_version"] == fieldcast.__version__
    assert manifest["alembic_revision"] == revision
    created = datetime.fromisoformat(manifest["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - created).total_seconds()) < 120
    assert manifest["files"] == {"media": 1, "replay": 2}
    assert manifest["secret_key"]["included"] is True
    assert members["secret_key"] == (taken.source / "secret_key").read_bytes()
    assert sorted(members) == sorted(
        ["fieldcast.sqlite3", "manifest.json", "secret_key", f"media/{MEDIA_FILE.as_posix()}"]
        + [f"replay/{p.as_posix()}" for p in REPLAY_FILES]
    )  # not hls/live: it is transient


def test_a_restore_serves_everything_committed_before_the_backup(taken: TakenBackup, tmp_path: Path) -> None:
    # The writer really was writing while the backup ran; what it wrote then may or may not be in
    # the copy, but the copy is one consistent snapshot either way.
    assert taken.written_during, "no sign-up was in flight while the backup ran"
    restored = tmp_path / "restored"
    done = fieldcast_cli(cli_env(restored), "restore", str(taken.archive))
    assert done.returncode == 0, (done.stdout, done.stderr)
    database = restored / "fieldcast.sqlite3"
    assert integrity(database) == "ok"
    emails = user_emails(database)
    assert set(taken.committed_before) <= emails
    assert emails <= set(taken.committed_before) | set(taken.written_during)
    for relative in [Path("media") / MEDIA_FILE] + [Path("hls/replay") / p for p in REPLAY_FILES]:
        assert (restored / relative).read_bytes() == (taken.source / relative).read_bytes(), relative
    assert not (restored / "hls" / "live").exists()
    assert (restored / "secret_key").read_bytes() == (taken.source / "secret_key").read_bytes()
    assert (restored / "secret_key").stat().st_mode & 0o777 == 0o600

    with serving(restored) as base_url, httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT_S) as client:
        for email in (taken.committed_before[0], taken.committed_before[-1]):
            r = client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, (email, r.text)
            client.cookies.clear()
        # A session signed before the backup is still good: the generated key came back with it.
        client.cookies.set("fc_session", taken.session_cookie)
        me = client.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["email"] == "first@backup.example.com"
        image = client.get(f"/media/{MEDIA_FILE.as_posix()}")
        assert image.status_code == 200
        assert image.content == (taken.source / "media" / MEDIA_FILE).read_bytes()

    again = fieldcast_cli(cli_env(restored), "restore", str(taken.archive))
    refused(again, "already exists", "--force")
    forced = fieldcast_cli(cli_env(restored), "restore", "--force", str(taken.archive))
    assert forced.returncode == 0, forced.stderr
    assert set(taken.committed_before) <= user_emails(database)


def test_a_configured_secret_key_is_left_alone_and_a_different_one_is_warned_about(
    taken: TakenBackup, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    done = fieldcast_cli(cli_env(target, FIELDCAST_SECRET_KEY="another-key"), "restore", str(taken.archive))
    assert done.returncode == 0, done.stderr
    assert "warning: FIELDCAST_SECRET_KEY differs" in done.stderr
    assert not (target / "secret_key").exists()
    assert integrity(target / "fieldcast.sqlite3") == "ok"


def test_a_corrupt_database_is_refused_before_anything_is_put_in_place(taken: TakenBackup, tmp_path: Path) -> None:
    """The damage is hidden from the checksum (the manifest is rewritten to match): only SQLite's
    integrity check can find it."""
    members = read_members(taken.archive)
    database = bytearray(members["fieldcast.sqlite3"])
    page = 4096
    for start in range(2 * page, len(database), page):  # every page after the first two
        database[start + 8 : start + page] = os.urandom(page - 8)
    members["fieldcast.sqlite3"] = bytes(database)
    manifest = json.loads(members["manifest.json"])
    manifest["database"]["sha256"] = hashlib.sha256(database).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    damaged = tar_gz(tmp_path / "damaged.tar.gz", members)
    target = tmp_path / "target"
    refused(fieldcast_cli(cli_env(target), "restore", str(damaged)), "corrupt")
    assert not (target / "fieldcast.sqlite3").exists() and not (target / "media").exists()


def test_an_archive_that_is_no_backup_is_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "target")
    foreign = tar_gz(tmp_path / "photos.tar.gz", {"holiday.jpg": b"\xff\xd8 not ours"})
    refused(fieldcast_cli(env, "restore", str(foreign)), "not a Fieldcast backup")
    plain = tmp_path / "notes.tar.gz"
    plain.write_text("not even gzip")
    refused(fieldcast_cli(env, "restore", str(plain)), "not a Fieldcast backup")
    refused(fieldcast_cli(env, "restore", str(tmp_path / "missing.tar.gz")), "no archive")
    assert not (tmp_path / "target" / "fieldcast.sqlite3").exists()


@pytest.mark.parametrize("name", ["../escaped.txt", "media/../../escaped.txt", "{tmp}/escaped.txt"])
def test_an_archive_member_that_leaves_the_data_folder_is_refused(tmp_path: Path, name: str) -> None:
    target = tmp_path / "deep" / "target"
    name = name.format(tmp=tmp_path)  # the last case: an absolute path
    hostile = tar_gz(tmp_path / "hostile.tar.gz", {"media/ok.webp": b"fine", name: b"gotcha"})
    refused(fieldcast_cli(cli_env(target), "restore", str(hostile)), "unsafe path")
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (target / "media").exists()


def test_postgresql_is_sent_to_pg_dump_and_pg_restore(tmp_path: Path) -> None:
    env = cli_env(tmp_path, FIELDCAST_DATABASE_URL="postgresql://fieldcast@127.0.0.1:1/fieldcast")
    refused(fieldcast_cli(env, "backup", "--out", str(tmp_path / "x.tar.gz")), "PostgreSQL", "pg_dump")
    refused(fieldcast_cli(env, "restore", str(tmp_path / "x.tar.gz")), "PostgreSQL", "pg_restore")
    assert not (tmp_path / "x.tar.gz").exists()
