"""The `fieldcast` command: serve, fanout, migrate, create-admin, demo, media-config, integrity."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import typer
import uvicorn

from fieldcast.config import Settings, load_settings
from fieldcast.logs import configure_logging, log_config
from fieldcast.web.server_limits import HEAD_MAX_BYTES, KEEP_ALIVE_S, GuardedHttpToolsProtocol

cli = typer.Typer(help="Fieldcast: live commerce for public-welfare selling.", no_args_is_help=True)


# How uvicorn serves the app, shared by `fieldcast serve` and the benchmarks. No per-message
# deflate: it would compress every room frame again for every socket. The limits (README,
# "Server limits"): a deadline and a size for each request head and a deadline between two reads
# of a body (web/server_limits.py), idle keep-alive connections closed after 5 s, and no
# WebSocket message larger than the largest browser go-live chunk (media/ingest_ws.py); room
# sockets close larger client messages than room_feed.CLIENT_MESSAGE_MAX themselves, with 1009.
WS_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
UVICORN_OPTIONS: dict[str, object] = {
    "proxy_headers": True,
    "ws_per_message_deflate": False,
    "http": GuardedHttpToolsProtocol,
    "timeout_keep_alive": KEEP_ALIVE_S,
    "h11_max_incomplete_event_size": HEAD_MAX_BYTES,  # the same head limit, should h11 be chosen
    "ws_max_size": WS_MAX_MESSAGE_BYTES,
}


REDIS_START_TIMEOUT_S = 3.0


def _redacted_url(url: str) -> str:
    """`url` without its password (redis://:secret@host/0 → redis://:***@host/0)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[2]}"))


def require_redis(command: str, settings: Settings) -> None:
    """With Redis configured, refuse to start while it does not answer: one line on stderr and
    exit code 1, so the supervisor (systemd `Restart=`) tries again rather than a process serving
    rooms it cannot hear."""
    if not settings.redis_url:
        return
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=REDIS_START_TIMEOUT_S, socket_timeout=REDIS_START_TIMEOUT_S
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = _redacted_url(settings.redis_url)
        typer.echo(f"fieldcast {command}: Redis at {where} is unreachable ({reason}); not starting", err=True)
        raise typer.Exit(1) from None
    finally:
        client.close()


def _serve(settings: Settings, workers: int, *, demo: bool = False) -> None:
    from fieldcast.app import create_app

    # The same set-up uvicorn applies below (log_config), already for what building the app logs.
    configure_logging(settings.log_format, settings.log_level)

    if workers > 1:
        # Several processes need a factory import string; each builds its own app from the env.
        uvicorn.run(
            "fieldcast.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_config=log_config(settings.log_format, settings.log_level),
            access_log=settings.access_log,
            **UVICORN_OPTIONS,  # type: ignore[arg-type]
        )
        return
    extras = []
    if demo:
        from fieldcast.demo.serve import demo_extra

        extras.append(demo_extra)
    uvicorn.run(
        create_app(settings, extras=extras),
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_format, settings.log_level),
        access_log=settings.access_log,
        **UVICORN_OPTIONS,  # type: ignore[arg-type]
    )


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (FIELDCAST_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FIELDCAST_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (needs Redis to share rooms).")] = 1,
) -> None:
    """Serve the web app and API."""
    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = load_settings(**overrides)
    from fieldcast.payments.provider import ProviderConfigError
    from fieldcast.payments.providers import check_payment_settings

    try:
        check_payment_settings(settings)
    except ProviderConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    require_redis("serve", settings)
    _serve(settings, workers)


@cli.command()
def fanout(
    host: Annotated[str | None, typer.Option(help="Bind address (FIELDCAST_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FIELDCAST_FANOUT_PORT).")] = None,
) -> None:
    """Serve the room sockets (/ws/rooms/<id>) in a process of their own; needs Redis.

    Run one per core on the same port (they share it) and route /ws/rooms/ to it in nginx."""
    import logging

    from fieldcast.bootstrap import core_context
    from fieldcast.realtime.fanout import run_fanout

    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["fanout_port"] = port
    settings = load_settings(**overrides)
    if not settings.redis_url:
        typer.echo("fieldcast fanout needs FIELDCAST_REDIS_URL: it hears the rooms through Redis.", err=True)
        raise typer.Exit(2)
    require_redis("fanout", settings)
    configure_logging(settings.log_format, settings.log_level)
    logging.getLogger("websockets").setLevel(logging.WARNING)  # no line per connection
    try:
        import uvloop

        uvloop.run(run_fanout(core_context(settings), settings.host, settings.fanout_port))
    except KeyboardInterrupt:
        pass


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (SQLite or PostgreSQL)."""
    from fieldcast.db.migrate import upgrade

    settings = load_settings()
    upgrade(settings.sqlalchemy_url)
    typer.echo("database is up to date")


async def ensure_admin(settings: Settings, *, email: str, display_name: str, password: str) -> bool:
    """Create a platform administrator (True), or make the existing account with this email one
    (False), through the accounts action. Invalid input raises ValueError with a readable message."""
    from pydantic import ValidationError

    from fieldcast.accounts.actions import make_platform_admin
    from fieldcast.accounts.schemas import SignUpIn
    from fieldcast.bootstrap import table_metadata
    from fieldcast.db.engine import Database

    try:
        data = SignUpIn(email=email, display_name=display_name, password=password)
    except ValidationError as exc:
        raise ValueError(
            "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors())
        ) from exc
    table_metadata()
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.uow() as uow:
            return await make_platform_admin(uow, data)
    finally:
        await db.dispose()


def read_password(password_file: Path | None, password_env: str | None) -> str:
    """The new administrator's password, never from the command line (`ps` would show it): from a
    file (its first line), from the environment variable named, or typed at a prompt without echo
    (twice). Raises typer.BadParameter with a readable message."""
    if password_file is not None and password_env is not None:
        raise typer.BadParameter("give --password-file or --password-env, not both")
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {password_file}: {exc.strerror}") from None
        return lines[0] if lines else ""
    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise typer.BadParameter(f"the environment variable {password_env} is not set")
        return value
    if not sys.stdin.isatty():
        raise typer.BadParameter("no terminal to ask for the password on: use --password-file or --password-env")
    first = getpass.getpass("Password (10+ characters): ")
    if getpass.getpass("Password again: ") != first:
        raise typer.BadParameter("the two passwords differ")
    return first


@cli.command("create-admin")
def create_admin(
    email: str,
    display_name: Annotated[str, typer.Option(help="Name shown on the site.")] = "Administrator",
    password_file: Annotated[
        Path | None, typer.Option(help="Read the password from this file's first line (mode 0600, then delete it).")
    ] = None,
    password_env: Annotated[
        str | None, typer.Option(help="Read the password from the environment variable of this name.")
    ] = None,
) -> None:
    """Create a platform administrator account, or make an existing account one.

    The password is asked for without echo, or read from --password-file or --password-env; it
    is never an argument, where `ps` and the shell history would show it."""
    secret = read_password(password_file, password_env)
    settings = load_settings()
    try:
        created = asyncio.run(ensure_admin(settings, email=email, display_name=display_name, password=secret))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(("created" if created else "updated") + f" platform administrator {email}")


@cli.command()
def demo(
    port: Annotated[int | None, typer.Option(help="Port (FIELDCAST_PORT).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the SQLite file, media and HLS go (FIELDCAST_DATA_DIR).")
    ] = None,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")] = True,
) -> None:
    """Migrate, seed the demo data (marked as demo) and serve on the embedded defaults."""
    from fieldcast.db.migrate import upgrade
    from fieldcast.demo.seed import print_logins, seed

    overrides: dict[str, object] = {"demo": True}
    if port:
        overrides["port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = load_settings(**overrides)
    upgrade(settings.sqlalchemy_url)
    logins = asyncio.run(seed(settings))
    print_logins(logins, settings)
    if serve_after:
        _serve(settings, 1, demo=True)


@cli.command("media-config")
def media_config(
    out: Annotated[Path, typer.Option(help="Where to write nginx.conf (mode 0600: it holds the callback secret).")],
    app_url: Annotated[
        list[str] | None,
        typer.Option(help="An app process's base URL, e.g. http://127.0.0.1:8001; repeat for every process."),
    ] = None,
    rtmp_port: Annotated[int, typer.Option(min=1, max=65535, help="RTMP port OBS publishes to.")] = 1935,
    http_port: Annotated[int, typer.Option(min=1, max=65535, help="Port nginx serves HLS on.")] = 8080,
    hook_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Loopback port of the server that forwards callbacks to the apps.")
    ] = 8089,
    bind: Annotated[str, typer.Option(help="Address RTMP and HLS listen on; 0.0.0.0 = every interface.")] = "127.0.0.1",
    prefix: Annotated[Path, typer.Option(help="nginx prefix: pid, logs and temp files.")] = Path(
        "/var/lib/fieldcast/nginx"
    ),
    module_path: Annotated[
        str, typer.Option(help="ngx_rtmp_module.so to load; empty if nginx loads it already (modules-enabled).")
    ] = "/usr/lib/nginx/modules/ngx_rtmp_module.so",
    user: Annotated[
        str, typer.Option(help="nginx's worker user (must exist); it gets the HLS and recordings folders.")
    ] = "",
) -> None:
    """Write the nginx-rtmp configuration for production ingest (RTMP in, HLS out, callbacks to every app)."""
    from fieldcast.media.nginx_config import ConfigError, NginxOptions, write_config

    settings = load_settings()
    options = NginxOptions(
        rtmp_port=rtmp_port,
        http_port=http_port,
        hook_port=hook_port,
        app_urls=tuple(app_url or ["http://127.0.0.1:8000"]),
        prefix=prefix,
        module_path=Path(module_path) if module_path else None,
        bind=bind,
        user=user or None,
    )
    if len({rtmp_port, http_port, hook_port}) < 3:
        typer.echo("fieldcast media-config: --rtmp-port, --http-port and --hook-port must differ", err=True)
        raise typer.Exit(2)
    try:
        path = write_config(settings, options, out)
    except (ConfigError, PermissionError) as exc:
        typer.echo(f"fieldcast media-config: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {path} (mode 0600); run: nginx -p {prefix} -e {prefix / 'error.log'} -c {path.resolve()}")
    if not settings.media_hook_secret:
        typer.echo("no FIELDCAST_MEDIA_HOOK_SECRET: the apps accept callbacks from loopback only", err=True)
    if not settings.rtmp_url:
        typer.echo(f"then set FIELDCAST_RTMP_URL=rtmp://127.0.0.1:{rtmp_port}/live for the app", err=True)


@cli.command("media-gc")
def media_gc() -> None:
    """Delete recordings whose replay is verified playable (after FIELDCAST_RECORDING_KEEP_DAYS) and
    the live HLS folders of ended shows. Every app process also runs this periodically."""
    from fieldcast.bootstrap import table_metadata
    from fieldcast.db.engine import Database
    from fieldcast.media.ffmpeg import ffmpeg_executable
    from fieldcast.media.retention import GcReport, collect

    settings = load_settings()

    async def run() -> GcReport:
        table_metadata()
        db = Database(settings.sqlalchemy_url)
        try:
            async with db.uow(write=False) as uow:
                return await collect(uow.session, settings, ffmpeg_executable(settings.ffmpeg_path))
        finally:
            await db.dispose()

    typer.echo(asyncio.run(run()).summary())


@cli.command()
def backup(
    out: Annotated[Path, typer.Option(help="Archive to write (tar.gz, mode 0600: it holds the secret key).")],
) -> None:
    """Copy the SQLite database, media, replays and secret key into one archive, while the app serves."""
    from fieldcast.db.backup import BackupError, create_backup

    try:
        manifest = create_backup(load_settings(), out)
    except BackupError as exc:
        typer.echo(f"fieldcast backup: {exc}", err=True)
        raise typer.Exit(2) from None
    files, sizes = manifest["files"], manifest["bytes"]
    typer.echo(
        f"wrote {out}: database at revision {manifest['alembic_revision']}, "
        + ", ".join(f"{name} {files[name]} files ({sizes[name]} bytes)" for name in files)
        + (", secret key" if manifest["secret_key"]["included"] else "")
    )


@cli.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="Archive written by `fieldcast backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing database (stop the app first).")] = False,
) -> None:
    """Restore a `fieldcast backup` archive into the configured data folder."""
    from fieldcast.db.backup import BackupError, restore_backup

    try:
        report = restore_backup(load_settings(), archive, force=force)
    except BackupError as exc:
        typer.echo(f"fieldcast restore: {exc}", err=True)
        raise typer.Exit(2) from None
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"restored {report.database} (backup of {report.manifest.get('created_at')}, revision "
        f"{report.manifest.get('alembic_revision')}); run `fieldcast migrate` if this release is newer"
    )


integrity_cli = typer.Typer(help="Integrity rules and alerts.", no_args_is_help=True)
cli.add_typer(integrity_cli, name="integrity")


@integrity_cli.command("run")
def integrity_run(
    session: Annotated[int, typer.Option("--session", min=1, help="The show (live session) id.")],
) -> None:
    """Run every integrity rule over one show now (as when it ends); prints the alerts it added.
    Running it again adds nothing for what was found before."""
    from fieldcast.bootstrap import table_metadata
    from fieldcast.db.engine import Database
    from fieldcast.errors import NotFound
    from fieldcast.integrity.actions import run_rules
    from fieldcast.integrity.rules import Thresholds

    settings = load_settings()

    async def run() -> list[str]:
        table_metadata()
        db = Database(settings.sqlalchemy_url)
        try:
            async with db.uow() as uow:
                added = await run_rules(uow, session, Thresholds.from_settings(settings))
                return [
                    f"alert {x.id}: {x.rule} ({x.severity.value}) on {x.subject_kind.value} {x.subject_id}"
                    for x in added
                ]
        finally:
            await db.dispose()

    try:
        lines = asyncio.run(run())
    except NotFound:
        typer.echo(f"fieldcast integrity run: no session {session}", err=True)
        raise typer.Exit(2) from None
    for line in lines:
        typer.echo(line)
    typer.echo(f"session {session}: {len(lines)} new alert(s)")


audit_cli = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")


def _day_option(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("give the day as YYYY-MM-DD") from None


@audit_cli.command("verify")
def audit_verify(
    day: Annotated[
        str | None, typer.Option("--day", help="Verify one Beijing day (YYYY-MM-DD) instead of the whole chain.")
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against", help="Also compare with heads published earlier: a saved answer of /api/v1/audit/heads."
        ),
    ] = None,
) -> None:
    """Walk the audit log's hash chain and its day heads; exit 1 naming the first bad entry
    (changed, deleted or inserted directly in the database), 0 when intact."""
    from fieldcast.db.audit_chain import Report, read_published, verify_chain
    from fieldcast.db.engine import Database

    one_day = _day_option(day)
    published = None
    if against is not None:
        try:
            published = read_published(against.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--against") from None
    settings = load_settings()

    async def run() -> Report:
        db = Database(settings.sqlalchemy_url)
        try:
            async with db.engine.connect() as conn:
                return await conn.run_sync(lambda sync: verify_chain(sync, day=one_day, published=published))
        finally:
            await db.dispose()

    report = asyncio.run(run())
    scope = f"day {one_day.isoformat()}" if one_day else f"{report.days} day{'' if report.days == 1 else 's'}"
    if report.ok:
        typer.echo(f"audit log intact: {report.entries} entries over {scope}")
        return
    first = report.problems[0]
    typer.echo(f"audit log BROKEN: first bad entry is {first}", err=True)
    for problem in report.problems[1:20]:
        typer.echo(f"  also: {problem}", err=True)
    if len(report.problems) > 20:
        typer.echo(f"  … and {len(report.problems) - 20} more", err=True)
    typer.echo(f"{len(report.problems)} problems in {report.entries} entries over {scope}", err=True)
    raise typer.Exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
