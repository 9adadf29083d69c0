"""Production ingest: the nginx configuration `fieldcast media-config` writes.

One RTMP application (`live`) takes OBS, phones and the app's own relays, published as
`<session stream name>?key=<stream key>`: the name is public, the key travels as a query argument
that only the callbacks read. Its callbacks ask the app whether a publish may start
(`on_publish`), keep asking while it runs (`on_update`, so a show ended in the console drops its
publisher) and report when it stops (`on_publish_done`). nginx writes short-fragment HLS and a
recording per publish; its http server serves the HLS folder under the same URL prefix the app
links to (FIELDCAST_HLS_BASE_URL), so both backends share one layout.

nginx-rtmp's callbacks take one plain URL each and cannot send headers, so they call a loopback
`http` server in the same nginx (the hook port), which proxies them to an `upstream` of every app
process, trying the next one when a process is down (`proxy_next_upstream`), and adds the shared
secret as a header (HOOK_SECRET_HEADER): no URL, and so no access log, ever holds it. That server
logs nothing; the error log is kept at `warn`, below which nginx-rtmp prints stream names and
arguments at every connect and publish."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fieldcast.config import Settings

DEFAULT_MODULE_PATH = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
HOOK_PREFIX = "/hooks/media"
# The header the hook server adds to every callback it forwards; the app compares it in constant time.
HOOK_SECRET_HEADER = "X-Fieldcast-Hook-Secret"  # noqa: S105 (a header name)
INGEST_APPLICATION = "live"
PUBLIC_APPLICATION = "show"
# How often nginx re-checks a running publish; a show ended in the console loses its stream
# within this many seconds.
UPDATE_INTERVAL_S = 5
UPSTREAM = "fieldcast_apps"
# How long one app process may take to answer a callback before nginx tries the next one.
HOOK_CONNECT_TIMEOUT_S = 2
HOOK_READ_TIMEOUT_S = 10
# Media folders: the worker user writes them, the app (same user or its group) reads them.
FOLDER_MODE = 0o750
CONFIG_MODE = 0o600


class ConfigError(ValueError):
    """An option media-config cannot turn into a working configuration (message for the operator)."""


@dataclass(frozen=True)
class NginxOptions:
    rtmp_port: int = 1935
    http_port: int = 8080
    # The loopback http server nginx-rtmp's callbacks go through (never reachable from outside).
    hook_port: int = 8089
    # Every app process's base URL: the callbacks go to whichever answers.
    app_urls: tuple[str, ...] = ("http://127.0.0.1:8000",)
    prefix: Path = Path("/var/lib/fieldcast/nginx")
    module_path: Path | None = DEFAULT_MODULE_PATH
    bind: str = "127.0.0.1"  # RTMP and HLS listen address; "0.0.0.0" (or "") = every interface
    # Workers' user when nginx starts as root: it must be able to write the HLS and recordings
    # folders that the app reads (e.g. the app's own user). None = nginx's default.
    user: str | None = None


def _quote(value: str | Path) -> str:
    """nginx string literal; paths with spaces or quotes must not break the file."""
    text = str(value)
    if any(c in text for c in "\n\r\0"):
        raise ValueError(f"not a valid nginx value: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _listen(bind: str, port: int) -> str:
    return f"{bind}:{port}" if bind and bind not in ("*", "0.0.0.0") else str(port)


def upstream_server(app_url: str) -> str:
    """`host:port` of an app process's base URL (http only, no path: the hooks live at the root)."""
    parts = urlsplit(app_url.strip())
    if parts.scheme != "http" or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ConfigError(f"--app-url must look like http://127.0.0.1:8001 (got {app_url!r})")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port or 80}"


def hook_url(hook_port: int, name: str) -> str:
    """The URL nginx-rtmp calls for a callback: the loopback hook server, no secret in it."""
    return f"http://127.0.0.1:{hook_port}{HOOK_PREFIX}/{name}"


def hls_location(hls_base_url: str) -> str:
    """The URL path nginx serves the HLS folder under: the path of FIELDCAST_HLS_BASE_URL (which
    may be an absolute CDN URL whose origin is this nginx)."""
    path = urlsplit(hls_base_url).path or "/hls"
    return "/" + path.strip("/") + "/"


def _secret_header(secret: str) -> str:
    if not secret:
        return ""
    if "$" in secret or any(c in secret for c in "\n\r\0"):
        # nginx would read `$name` in a header value as a variable.
        raise ConfigError("FIELDCAST_MEDIA_HOOK_SECRET must not contain '$' or line breaks")
    return f"            proxy_set_header {HOOK_SECRET_HEADER} {_quote(secret)};\n"


def render(settings: Settings, options: NginxOptions) -> str:
    """A complete nginx.conf for `nginx -p <prefix> -c <file>`; every runtime path sits under
    the prefix so it runs without root on unprivileged ports."""
    if not options.app_urls:
        raise ConfigError("give at least one --app-url")
    prefix = options.prefix.resolve()
    hls_dir = settings.resolved_hls_dir
    recordings = settings.resolved_recordings_dir
    location = hls_location(settings.hls_base_url)
    load = f"load_module {_quote(options.module_path)};\n" if options.module_path else ""
    every = options.bind in ("", "*", "0.0.0.0")
    loopback = "127.0.0.1" if every else options.bind
    user = f"user {options.user};\n" if options.user else ""
    servers = "\n".join(
        f"        server {upstream_server(url)} max_fails=1 fail_timeout=10s;"
        for url in dict.fromkeys(options.app_urls)
    )
    secret_header = _secret_header(settings.media_hook_secret)

    def hooks(*pairs: tuple[str, str]) -> str:
        return "\n".join(f"            {directive} {hook_url(options.hook_port, name)};" for directive, name in pairs)

    ingest_hooks = hooks(("on_publish", "on_publish"), ("on_update", "on_update"))
    # The relay's publish gets its own URL: only the loopback push reaches the public application.
    public_hooks = hooks(
        ("on_publish", "on_relay_publish"), ("on_publish_done", "on_publish_done"), ("on_record_done", "on_record_done")
    )
    return f"""# Generated by `fieldcast media-config`. Regenerate instead of editing.
# It holds the callback secret: keep it mode 0600 (nginx's master reads it as root).
{load}{user}
# nginx-rtmp keeps live streams per worker: one worker sees every publisher of a stream.
worker_processes 1;
pid {_quote(prefix / "nginx.pid")};
# warn, not info: at info nginx-rtmp logs every connect and publish with its name and arguments.
error_log {_quote(prefix / "error.log")} warn;

events {{
    worker_connections 1024;
}}

rtmp {{
    server {{
        listen {_listen(options.bind, options.rtmp_port)};
        chunk_size 4096;

        # What OBS, phones and the app's own relays publish to: <stream name>?key=<stream key>.
        application {INGEST_APPLICATION} {{
            live on;
            # Anyone may try to publish (the hook decides); nobody plays RTMP: viewers get HLS.
            allow publish all;
            deny play all;
            # A publisher that stops sending is dropped, so publish_done fires and the grace period starts.
            drop_idle_publisher 10s;
{ingest_hooks}
            notify_method post;
            notify_update_timeout {UPDATE_INTERVAL_S}s;
            # Accepted streams are pushed, without their arguments (the key), into the public
            # application below, which alone writes HLS and recordings.
            push rtmp://{loopback}:{options.rtmp_port}/{PUBLIC_APPLICATION};
        }}

        # Accepted streams only, from the push above: HLS and recordings never see a key.
        application {PUBLIC_APPLICATION} {{
            live on;
            allow publish {loopback};
            deny publish all;
            deny play all;
{public_hooks}
            notify_method post;

            hls on;
            hls_path {_quote(hls_dir / "live")};
            hls_nested on;
            hls_fragment 1s;
            hls_playlist_length 4s;
            hls_continuous on;
            hls_cleanup on;

            record all;
            record_path {_quote(recordings)};
            record_unique on;
            record_suffix .flv;
        }}
    }}
}}

http {{
    access_log {_quote(prefix / "access.log")};
    client_body_temp_path {_quote(prefix / "tmp" / "client_body")};
    proxy_temp_path {_quote(prefix / "tmp" / "proxy")};
    fastcgi_temp_path {_quote(prefix / "tmp" / "fastcgi")};
    uwsgi_temp_path {_quote(prefix / "tmp" / "uwsgi")};
    scgi_temp_path {_quote(prefix / "tmp" / "scgi")};
    sendfile on;
    tcp_nopush on;
    server_tokens off;

    # Every app process: a callback goes to the next one when a process is down or failing.
    upstream {UPSTREAM} {{
{servers}
        keepalive 4;
    }}

    # nginx-rtmp's callbacks (loopback only): forwarded to the apps with the secret as a header.
    server {{
        listen 127.0.0.1:{options.hook_port};
        access_log off;

        location {HOOK_PREFIX}/ {{
            proxy_pass http://{UPSTREAM};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
{secret_header}            proxy_connect_timeout {HOOK_CONNECT_TIMEOUT_S}s;
            proxy_read_timeout {HOOK_READ_TIMEOUT_S}s;
            # The callbacks are POSTs; each is safe to repeat on another process.
            proxy_next_upstream error timeout http_500 http_502 http_503 http_504 non_idempotent;
            proxy_next_upstream_timeout {HOOK_READ_TIMEOUT_S}s;
        }}

        location / {{
            return 404;
        }}
    }}

    # Playlists change every second and must not be cached; segments never change once listed.
    # (A map, not a nested location: a regex location inside an alias location maps paths wrongly.)
    map $uri $fieldcast_hls_cache {{
        ~\\.m3u8$ "no-cache";
        default "";
    }}

    server {{
        listen {_listen(options.bind, options.http_port)};

        location {location} {{
            alias {_quote(str(hls_dir) + "/")};
            types {{
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }}
            default_type application/octet-stream;
            add_header Cache-Control $fieldcast_hls_cache always;
            add_header Access-Control-Allow-Origin * always;
        }}
    }}
}}
"""


def media_folders(settings: Settings, options: NginxOptions) -> list[Path]:
    """What nginx's workers write: HLS (live and replay), recordings and nginx's own temp files."""
    return [
        options.prefix,
        options.prefix / "tmp",
        settings.resolved_hls_dir,
        settings.resolved_hls_dir / "live",
        settings.resolved_hls_dir / "replay",
        settings.resolved_recordings_dir,
    ]


def worker_ids(user: str | None) -> tuple[int, int] | None:
    """(uid, gid) of the worker user, None when nginx runs as whoever starts it; a clear error
    when the user does not exist."""
    if not user:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(
            f"user {user!r} does not exist; create it first, e.g. "
            f"`useradd --system --home-dir /var/lib/fieldcast --shell /usr/sbin/nologin {user}`"
        ) from None
    return entry.pw_uid, entry.pw_gid


def write_config(settings: Settings, options: NginxOptions, out: Path) -> Path:
    """Write the configuration (0600: it holds the callback secret) and create the folders nginx
    and the app expect, owned by the worker user (when run as root) with mode 0750."""
    ids = worker_ids(options.user)
    text = render(settings, options)
    for folder in media_folders(settings, options):
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 or folder.stat().st_uid == os.geteuid():
            folder.chmod(FOLDER_MODE)
        if ids is not None and os.geteuid() == 0:
            os.chown(folder, *ids)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, CONFIG_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    out.chmod(CONFIG_MODE)  # an existing file keeps its old mode through O_CREAT
    return out
