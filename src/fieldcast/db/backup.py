"""Backup and restore of the embedded deployment (`fieldcast backup`, `fieldcast restore`).

One tar.gz holds everything a restore needs: the SQLite database, copied with SQLite's online
backup API while the app keeps serving; the media folder; the replays; and the generated secret
key, which signs cookies and keys the hashes of ID numbers. PostgreSQL deployments use pg_dump."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from fieldcast import __version__
from fieldcast.config import Settings

FORMAT = "fieldcast-backup"
FORMAT_VERSION = 1
MANIFEST_MEMBER = "manifest.json"
DATABASE_MEMBER = "fieldcast.sqlite3"
KEY_MEMBER = "secret_key"
# Archive folder -> what it holds; hls/live is left out on purpose (rebuilt while on air).
MEDIA, REPLAY = "media", "replay"
FOLDERS = (MEDIA, REPLAY)
POSTGRES_WAY = (
    "FIELDCAST_DATABASE_URL points to PostgreSQL, which this command does not cover: {what}, and copy "
    "the media folder, the replays (hls/replay) and FIELDCAST_SECRET_KEY yourself; see 'Backup and "
    "restore' in the README."
)
_CHUNK = 1 << 20
_SPOOL_IN_MEMORY = 8 << 20


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message tells the operator why."""


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    database: Path
    warnings: list[str] = field(default_factory=list)


# -- where things live ------------------------------------------------------------------------------


def sqlite_path(settings: Settings, *, restoring: bool = False) -> Path:
    """The SQLite file of the embedded deployment; a PostgreSQL URL is refused with the pg_dump way."""
    url = settings.sqlalchemy_url
    if url.startswith("postgresql"):
        what = (
            'restore its dump with pg_restore (pg_restore --clean --if-exists -d "$DATABASE_URL" fieldcast.dump)'
            if restoring
            else 'back it up with pg_dump (pg_dump -Fc -f fieldcast.dump "$DATABASE_URL")'
        )
        raise BackupError(POSTGRES_WAY.format(what=what))
    if not url.startswith("sqlite") or ":///" not in url:
        raise BackupError("backup and restore cover the embedded SQLite database only")
    path = url.split(":///", 1)[1].split("?", 1)[0]
    if not path or path == ":memory:":
        raise BackupError("an in-memory database has nothing to back up")
    return Path(path).expanduser().resolve()


def _folders(settings: Settings) -> dict[str, Path]:
    return {MEDIA: settings.resolved_media_dir, REPLAY: settings.resolved_hls_dir / "replay"}


def _key_file(settings: Settings) -> Path:
    return settings.data_dir / "secret_key"


def key_fingerprint(key: str) -> str:
    """A short digest that tells two keys apart without revealing either."""
    return hashlib.sha256(b"fieldcast backup key check\0" + key.encode()).hexdigest()[:16]


# -- backup ---------------------------------------------------------------------------------------


def create_backup(settings: Settings, out: Path) -> dict[str, Any]:
    """Write the archive to `out` (temporary name, then rename; mode 0600) and return its manifest."""
    database = sqlite_path(settings)
    if not database.is_file():
        raise BackupError(f"no database at {database}: nothing to back up (run `fieldcast migrate` first?)")
    out = out.expanduser().resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # Scratch space beside the archive, not in /tmp (often a small tmpfs): the copy can be large.
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as scratch:
            copy = Path(scratch) / DATABASE_MEMBER
            revision = copy_database(database, copy)
            fd, temp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")  # mode 0600
            try:
                with os.fdopen(fd, "wb") as raw:
                    manifest = _write_archive(raw, settings, copy, revision, skip={out, Path(temp_name), copy})
                    raw.flush()
                    os.fsync(raw.fileno())
                os.replace(temp_name, out)
            except BaseException:
                Path(temp_name).unlink(missing_ok=True)
                raise
    except OSError as exc:
        raise BackupError(f"backup failed: {exc}") from exc
    return manifest


def copy_database(source: Path, copy: Path) -> str | None:
    """Copy the live database in one step of SQLite's backup API (one read snapshot, so writers
    in WAL mode go on meanwhile); check the copy's integrity; return its Alembic revision."""
    try:
        src = sqlite3.connect(f"{source.as_uri()}?mode=rw", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)  # pages=-1: the whole database from one snapshot
                # A self-contained file (no -wal beside it); the app turns WAL on again when it opens it.
                dst.execute("PRAGMA journal_mode=DELETE")
                problems = integrity_problems(dst)
                if problems:
                    raise BackupError("the copy of the database failed its integrity check: " + problems)
                return _alembic_revision(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the database {source}: {exc}") from exc


def integrity_problems(conn: sqlite3.Connection) -> str:
    """What PRAGMA integrity_check finds wrong (the first few lines), or "" when the database is sound."""
    rows = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(5)")]
    return "" if rows == ["ok"] else "; ".join(rows)


def _alembic_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # never migrated
        return None
    return str(row[0]) if row else None


def _write_archive(
    raw: IO[bytes], settings: Settings, database: Path, revision: str | None, skip: set[Path]
) -> dict[str, Any]:
    files = dict.fromkeys(FOLDERS, 0)
    sizes = dict.fromkeys(FOLDERS, 0)
    skipped = 0
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        spool_dir = database.parent
        added = _add_file(tar, database, DATABASE_MEMBER, 0o600, spool_dir)
        if added is None:
            raise BackupError(f"the copy of the database vanished from {database}")
        db_bytes, db_sha256 = added
        key_file = None if settings.secret_key else _read_key_file(_key_file(settings))
        if key_file is not None:
            _add_bytes(tar, KEY_MEMBER, key_file, 0o600)  # byte for byte, as config.py wrote it
        key = settings.secret_key or (key_file.decode().strip() if key_file else "")
        for folder, root in _folders(settings).items():
            for path, relative in _walk(root, hide_dot_entries=folder == REPLAY):
                if path in skip:
                    continue
                added = _add_file(tar, path, f"{folder}/{relative}", 0o644, spool_dir)
                if added is None:  # removed while we copied: not part of this backup
                    skipped += 1
                    continue
                files[folder] += 1
                sizes[folder] += added[0]
        # Last in the archive, since only now are the counts known; restore reads the whole archive anyway.
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fieldcast_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "alembic_revision": revision,
            "database": {"member": DATABASE_MEMBER, "bytes": db_bytes, "sha256": db_sha256},
            "files": files,
            "bytes": sizes,
            "skipped_files": skipped,
            "secret_key": {
                "included": key_file is not None,
                "fingerprint": key_fingerprint(key) if key else None,
            },
        }
        _add_bytes(tar, MANIFEST_MEMBER, json.dumps(manifest, indent=2).encode(), 0o600)
    return manifest


def _read_key_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes() or None
    except FileNotFoundError:  # the app has not run yet: it generates the key on first start
        return None


def _walk(root: Path, *, hide_dot_entries: bool) -> Iterator[tuple[Path, str]]:
    """Regular files under `root` (not symlinks), sorted, with their POSIX path relative to it. Replays
    skip dot entries at their top: the scratch folders of a replay being built."""
    if not root.is_dir():
        return
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        if hide_dot_entries and here == root:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            names = [n for n in names if not n.startswith(".")]
        dirs.sort()
        for name in sorted(names):
            path = here / name
            try:
                regular = stat.S_ISREG(os.lstat(path).st_mode)  # no symlinks, and no FIFO to block on
            except FileNotFoundError:
                continue
            if regular:
                yield path, path.relative_to(root).as_posix()


def _add_file(tar: tarfile.TarFile, path: Path, name: str, mode: int, spool_dir: Path) -> tuple[int, str] | None:
    """Add what `path` holds now; returns its size and SHA-256, or None if it is gone or is no
    regular file. The bytes go through a spool first, so a file that grows or shrinks while being
    read never leaves a tar header with the wrong size."""
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return None
    with source:
        info = os.fstat(source.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY, dir=str(spool_dir)) as spool:
            digest = hashlib.sha256()
            remaining = info.st_size
            while remaining > 0 and (chunk := source.read(min(_CHUNK, remaining))):
                spool.write(chunk)
                digest.update(chunk)
                remaining -= len(chunk)
            size = spool.tell()
            spool.seek(0)
            member = tarfile.TarInfo(name)
            member.size, member.mode, member.mtime = size, mode, int(info.st_mtime)
            tar.addfile(member, spool)
    return size, digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    member = tarfile.TarInfo(name)
    member.size, member.mode, member.mtime = len(data), mode, int(datetime.now(UTC).timestamp())
    tar.addfile(member, io.BytesIO(data))


# -- restore --------------------------------------------------------------------------------------


def restore_backup(settings: Settings, archive: Path, *, force: bool = False) -> RestoreReport:
    """Check the archive whole (names, manifest, database integrity) in a staging folder, then
    put media, replays, the secret key and, last, the database in place."""
    database = sqlite_path(settings, restoring=True)
    archive = archive.expanduser()
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    if database.exists() and not force:
        raise BackupError(
            f"a database already exists at {database}; restore into a fresh data folder, or pass --force "
            "to replace it (stop every `fieldcast serve` on it first)"
        )
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=database.parent, prefix=".restore-"))
        try:
            manifest = _unpack(archive, staging)
            _verify(manifest, staging)
            report = RestoreReport(manifest=manifest, database=database)
            _put_in_place(settings, staging, database, report)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise BackupError(f"restore failed: {exc}") from exc
    return report


def _member_path(name: str) -> PurePosixPath:
    """The member's path if it is one of ours; unsafe paths and foreign names are refused."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or not path.parts:
        raise BackupError(f"refused: the archive holds an unsafe path {name!r}")
    if path.parts[0] not in FOLDERS and str(path) not in (MANIFEST_MEMBER, DATABASE_MEMBER, KEY_MEMBER):
        raise BackupError(f"not a Fieldcast backup: unexpected member {name!r}")
    return path


def _unpack(archive: Path, staging: Path) -> dict[str, Any]:
    """Copy every member out into `staging`, by our own rules: regular files at checked paths."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                path = _member_path(member.name)
                if member.isdir():
                    continue
                if not member.isreg():
                    raise BackupError(f"refused: {member.name!r} is a link or device, not a file")
                if path.parts[0] in FOLDERS and len(path.parts) < 2:
                    raise BackupError(f"not a Fieldcast backup: unexpected member {member.name!r}")
                target = staging.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isreg() members always have data
                    raise BackupError(f"not a Fieldcast backup: {member.name!r} has no data")
                with source, open(target, "xb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise BackupError(f"not a Fieldcast backup: {archive} is not a readable tar.gz ({exc})") from exc
    except FileExistsError as exc:
        raise BackupError(f"not a Fieldcast backup: {exc.filename} appears twice") from exc
    try:
        manifest = json.loads((staging / MANIFEST_MEMBER).read_text())
    except (FileNotFoundError, ValueError) as exc:
        raise BackupError(f"not a Fieldcast backup: {archive} has no readable {MANIFEST_MEMBER}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"not a Fieldcast backup: {archive}'s {MANIFEST_MEMBER} is not ours")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{archive} is backup format {manifest.get('format_version')!r}; this Fieldcast "
            f"({__version__}) restores format {FORMAT_VERSION}"
        )
    return manifest


def _verify(manifest: dict[str, Any], staging: Path) -> None:
    """The staged files must be what the manifest lists and the database must be sound."""
    db, expected_files, expected_bytes = _part(manifest, "database"), _part(manifest, "files"), _part(manifest, "bytes")
    key_included = bool(_part(manifest, "secret_key").get("included"))
    staged_db = staging / DATABASE_MEMBER
    if not staged_db.is_file():
        raise BackupError("not a Fieldcast backup: the archive holds no database")
    with open(staged_db, "rb") as data:
        digest = hashlib.file_digest(data, "sha256").hexdigest()
    if staged_db.stat().st_size != db.get("bytes") or digest != db.get("sha256"):
        raise BackupError("the archive's database is damaged: its size or checksum differs from the manifest")
    for folder in FOLDERS:
        found = [p for p in (staging / folder).rglob("*") if p.is_file()]
        count, size = len(found), sum(p.stat().st_size for p in found)
        if (count, size) != (expected_files.get(folder), expected_bytes.get(folder)):
            raise BackupError(
                f"the archive is incomplete: {folder} holds {count} files ({size} bytes), the manifest "
                f"lists {expected_files.get(folder)} ({expected_bytes.get(folder)} bytes)"
            )
    if key_included != (staging / KEY_MEMBER).is_file():
        raise BackupError("the archive is damaged: it and its manifest disagree on the secret key")
    revision: str | None = None
    try:
        conn = sqlite3.connect(f"{staged_db.as_uri()}?mode=ro", uri=True)
        try:
            problems = integrity_problems(conn)
            revision = _alembic_revision(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        problems = str(exc)
    if problems:
        raise BackupError(f"the archive's database is corrupt: {problems}")
    if revision != manifest.get("alembic_revision"):
        raise BackupError("the archive's database is not the one its manifest describes (Alembic revision)")


def _part(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    part = manifest.get(name)
    if not isinstance(part, dict):
        raise BackupError(f"not a Fieldcast backup: its manifest has no {name!r} part")
    return part


def _put_in_place(settings: Settings, staging: Path, database: Path, report: RestoreReport) -> None:
    for folder, root in _folders(settings).items():
        staged = staging / folder
        for path in sorted(p for p in staged.rglob("*") if p.is_file()):
            _replace(path, root / path.relative_to(staged), 0o644)
    _restore_key(settings, staging, report)
    # Last: until the database is there, a failed restore can simply be run again.
    # A -wal or -shm left by a replaced database would be replayed onto the restored one.
    for suffix in ("-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    _replace(staging / DATABASE_MEMBER, database, 0o600)


def _restore_key(settings: Settings, staging: Path, report: RestoreReport) -> None:
    fingerprint = report.manifest["secret_key"].get("fingerprint")
    staged = staging / KEY_MEMBER
    if settings.secret_key:
        if fingerprint and key_fingerprint(settings.secret_key) != fingerprint:
            report.warnings.append(
                "FIELDCAST_SECRET_KEY differs from the key this backup was made with: sessions from before "
                "the backup end, and ID-number lookups of earlier host verifications no longer match. "
                + (
                    f"The archive's key is its '{KEY_MEMBER}' member; use it as FIELDCAST_SECRET_KEY."
                    if staged.is_file()
                    else "Set FIELDCAST_SECRET_KEY to the key used when the backup was made."
                )
            )
        return
    if staged.is_file():
        _replace(staged, _key_file(settings), 0o600)
    elif fingerprint:
        report.warnings.append(
            "this backup was made with FIELDCAST_SECRET_KEY set and holds no key: set the same "
            "FIELDCAST_SECRET_KEY before serving, or ID-number lookups and sessions break"
        )


def _replace(source: Path, target: Path, mode: int) -> None:
    """Move `source` to `target` by a rename, so `target` is never half-written: straight when
    both are on one file system, else through a temporary copy beside `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source.chmod(mode)
    if source.stat().st_dev == target.parent.stat().st_dev:
        with open(source, "rb") as staged:
            os.fsync(staged.fileno())
        os.replace(source, target)
        return
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as sink, open(source, "rb") as data:
            shutil.copyfileobj(data, sink, _CHUNK)
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
