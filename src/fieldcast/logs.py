"""Log output of `fieldcast serve` and `fieldcast fanout`: one set-up for our loggers and uvicorn's
(uvicorn, uvicorn.error, uvicorn.access), as text lines or as one JSON object a line
(FIELDCAST_LOG_FORMAT), with secrets taken out of the URLs they log.

`log_config` is a logging.config.dictConfig dictionary, so uvicorn can apply it in each worker
process it starts (`uvicorn.run(log_config=...)`); `configure_logging` applies it here."""

from __future__ import annotations

import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote_plus

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
REDACTED = "***"
# Query parameters whose value is never logged: secret, token, key, password, and names ending in
# one of them (access_token, api_key, stream_key). nginx-rtmp calls the media hooks with ?secret=.
SENSITIVE_PARAMETER = re.compile(r"(?:^|[_.-])(?:secret|token|key|password)$", re.IGNORECASE)


def redact_query(url: str) -> str:
    """`url` with the values of sensitive query parameters replaced by ***; the rest as it was."""
    path, mark, query = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = query.partition("#")
    parts = []
    for part in query.split("&"):
        name, equals, _value = part.partition("=")
        if equals and SENSITIVE_PARAMETER.search(unquote_plus(name)):
            part = f"{name}={REDACTED}"
        parts.append(part)
    return path + mark + "&".join(parts) + hash_mark + fragment


class RedactSecrets(logging.Filter):
    """Redacts query strings in a record's arguments: uvicorn logs each request's path and query
    (access log) and each WebSocket's (uvicorn.error) as arguments, never in the message itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, pid, the exception's
    traceback when there is one, and for uvicorn's access log the request's parts as fields.
    Text stays readable (UTF-8, not \\u escapes)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, http_version, status = record.args
            entry.update(client=client, method=method, path=path, http_version=http_version, status=status)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def log_config(log_format: str, level: str, stream: TextIO | None = None) -> dict[str, Any]:
    """The dictConfig for every logger of the process, written to `stream` (default stderr)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"text": {"format": TEXT_FORMAT}, "json": {"()": JsonFormatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "text",
                "filters": ["redact"],
                "stream": stream if stream is not None else "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        # uvicorn's loggers lose the handlers uvicorn gives them and go through ours.
        "loggers": {name: {"handlers": [], "level": level, "propagate": True} for name in UVICORN_LOGGERS},
    }


def configure_logging(log_format: str, level: str, stream: TextIO | None = None) -> None:
    logging.config.dictConfig(log_config(log_format, level, stream))
