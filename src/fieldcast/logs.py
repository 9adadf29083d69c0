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


# The safety net under every log line, whatever logged it: values that are secret by their very
# shape are replaced wherever they appear (message, arguments, exception text). Stream keys
# (live/keys.py: fck_ + 32), API tokens (accounts/security.py: fc_ + 43), bearer credentials,
# `name=value` pairs whose name says secret/token/key/password/cookie-session, and mainland ID
# numbers (18 characters whose 7th to 14th are a birth date).
SECRET_SHAPES = (
    (re.compile(r"\bfck_[A-Za-z0-9_-]{8,}"), "fck_" + REDACTED),
    (re.compile(r"\bfc_[A-Za-z0-9_-]{20,}"), "fc_" + REDACTED),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    (
        re.compile(r"(?i)\b([A-Za-z0-9_.-]*(?:secret|token|key|password|passwd|session))(=|\s*:\s*)([^\s&;,'\"]+)"),
        r"\1\2" + REDACTED,
    ),
    (
        re.compile(
            r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])"
        ),
        "[id number]",
    ),
    (re.compile(r"(redis|rediss|postgres(?:ql)?(?:\+\w+)?)://([^:/@\s]*):[^@\s]+@"), r"\1://\2:" + REDACTED + "@"),
)


def scrub(text: str) -> str:
    """`text` with every value of a secret shape replaced (SECRET_SHAPES)."""
    for pattern, replacement in SECRET_SHAPES:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Redacts query strings in a record's arguments: uvicorn logs each request's path and query
    (access log) and each WebSocket's (uvicorn.error) as arguments, never in the message itself.
    Then scrubs the message, its arguments and its exception text of anything of a secret's shape
    (SECRET_SHAPES), a safety net for what no code should log in the first place."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else _scrub_other(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: scrub(v) if isinstance(v, str) else _scrub_other(v) for k, v in record.args.items()}
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub(_EXCEPTIONS.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


_EXCEPTIONS = logging.Formatter()


def _scrub_other(value: object) -> object:
    """An argument that is not a string (an exception, a URL object, a dict): its text scrubbed
    when scrubbing changes it, else the value itself (numbers keep their %d formatting)."""
    if value is None or isinstance(value, int | float | bool):
        return value
    text = str(value)
    scrubbed = scrub(text)
    return value if scrubbed == text else scrubbed


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
    # Python's warnings (deprecations, unclosed resources) as log lines in the same format, not
    # bare text on stderr.
    logging.captureWarnings(True)
