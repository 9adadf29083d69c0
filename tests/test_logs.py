"""Log output (fieldcast/logs.py): JSON lines with the fields log collectors need, readable
Chinese, uvicorn's loggers through the same set-up, and no secret from a URL in any line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldcast.logs import UVICORN_LOGGERS, configure_logging, redact_query
from tests.conftest import TEST_SECRET, free_port

ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access log line, with its five arguments


@contextlib.contextmanager
def configured(log_format: str, level: str = "info") -> Iterator[io.StringIO]:
    """Apply the process-wide set-up into a buffer, and put back what was there (pytest's own
    capture handlers included) before the test ends."""
    names = ["", *UVICORN_LOGGERS]
    saved = [
        (logger, logger.handlers[:], logger.filters[:], logger.level, logger.propagate)
        for logger in (logging.getLogger(name) for name in names)
    ]
    buffer = io.StringIO()
    configure_logging(log_format, level, stream=buffer)
    try:
        yield buffer
    finally:
        for logger, handlers, filters, level_was, propagate in saved:
            logger.handlers[:] = handlers
            logger.filters[:] = filters
            logger.setLevel(level_was)
            logger.propagate = propagate


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_time_level_logger_message_and_the_exception() -> None:
    with configured("json") as out:
        log = logging.getLogger("fieldcast.test")
        log.info("直播间 %s 开播", "秭归脐橙")
        log.debug("below the level: not written")
        try:
            raise ValueError("库存不足")
        except ValueError:
            log.exception("下单失败")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    started, failed = json_lines(out.getvalue())
    assert started["message"] == "直播间 秭归脐橙 开播" and "直播间" in lines[0]  # UTF-8, not \u escapes
    assert started["level"] == "INFO" and started["logger"] == "fieldcast.test"
    assert started["pid"] == os.getpid() and "exception" not in started
    at = datetime.fromisoformat(started["time"])
    assert at.utcoffset() == timedelta(0)
    assert abs(time.time() - at.timestamp()) < 60
    assert failed["level"] == "ERROR" and failed["message"] == "下单失败"
    assert failed["exception"].startswith("Traceback") and "ValueError: 库存不足" in failed["exception"]


def test_uvicorn_loggers_go_through_the_same_set_up() -> None:
    with configured("json") as out:
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 4242)
        logging.getLogger("uvicorn.access").info(
            ACCESS_FORMAT, "127.0.0.1:50000", "GET", "/api/v1/sessions/7?after=3", "1.1", 200
        )
    started, access = json_lines(out.getvalue())
    assert started["logger"] == "uvicorn.error" and started["message"] == "Started server process [4242]"
    assert access["logger"] == "uvicorn.access"
    assert access["message"] == '127.0.0.1:50000 - "GET /api/v1/sessions/7?after=3 HTTP/1.1" 200'
    assert (access["client"], access["method"], access["path"], access["status"]) == (
        "127.0.0.1:50000",
        "GET",
        "/api/v1/sessions/7?after=3",
        200,
    )


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_access_log_never_carries_secret_query_values(log_format: str) -> None:
    hook = "/internal/media/on_publish?app=live&secret=hunter2&name=abc"
    with configured(log_format) as out:
        logging.getLogger("uvicorn.access").info(ACCESS_FORMAT, "127.0.0.1:50000", "POST", hook, "1.1", 200)
        logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/ws?token=t0ken")
    written = out.getvalue()
    assert "hunter2" not in written and "t0ken" not in written
    assert "/internal/media/on_publish?app=live&secret=***&name=abc" in written
    assert "/ws?token=***" in written
    if log_format == "json":
        assert json_lines(written)[0]["path"] == "/internal/media/on_publish?app=live&secret=***&name=abc"


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("/healthz", "/healthz"),
        ("/x?a=1&b=2", "/x?a=1&b=2"),
        ("/x?secret=s&token=t&key=k&password=p", "/x?secret=***&token=***&key=***&password=***"),
        (
            "/x?access_token=t&api_key=k&stream-key=k&PASSWORD=p",
            "/x?access_token=***&api_key=***&stream-key=***&PASSWORD=***",
        ),
        ("/x?keyword=%E6%A9%99&monkey=1&secretary=2", "/x?keyword=%E6%A9%99&monkey=1&secretary=2"),
        ("/x?%73ecret=s&secret&token=", "/x?%73ecret=***&secret&token=***"),
        ("/x?secret=s#part", "/x?secret=***#part"),
    ],
)
def test_sensitive_query_values_are_redacted_and_nothing_else(url: str, logged: str) -> None:
    assert redact_query(url) == logged


@pytest.mark.timeout(90)
def test_fieldcast_serve_writes_uvicorn_and_access_lines_as_json(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "FIELDCAST_DATABASE_URL": database_url,
        "FIELDCAST_DATA_DIR": str(tmp_path),
        "FIELDCAST_SECRET_KEY": TEST_SECRET,
        "FIELDCAST_REDIS_URL": "",
        "FIELDCAST_HOST": "127.0.0.1",
        "FIELDCAST_PORT": str(port),
        "FIELDCAST_LOG_FORMAT": "json",
        "FIELDCAST_ACCESS_LOG": "true",  # off by default (#16: it costs more than a cached page)
    }
    stderr_path = tmp_path / "serve.log"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fieldcast", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            deadline = time.monotonic() + 60
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                while True:
                    assert proc.poll() is None, stderr_path.read_text()
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, stderr_path.read_text()
                    time.sleep(0.1)
                assert client.get("/healthz", params={"secret": "hunter2", "n": "1"}).status_code == 200
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    written = stderr_path.read_text(encoding="utf-8")
    entries = json_lines(written)  # every line is one JSON object
    assert "hunter2" not in written
    assert any(e["logger"] == "uvicorn.error" and "Application startup complete" in e["message"] for e in entries)
    access = [e for e in entries if e["logger"] == "uvicorn.access" and "secret" in e["path"]]
    assert [e["path"] for e in access] == ["/healthz?secret=***&n=1"]
    assert access[0]["status"] == 200 and access[0]["method"] == "GET"
