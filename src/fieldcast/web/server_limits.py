"""Limits of the HTTP server itself (uvicorn with httptools), for when no nginx stands in front.

uvicorn times out only an idle keep-alive connection, and any byte received resets that timer:
a client that opens a connection and trickles a header line every few seconds (slowloris), or
stops half-way through a body, holds a connection and its buffers for ever, and httptools sets
no limit on the size of a request's head. This protocol adds what nginx does by default:
a deadline for the whole request head (client_header_timeout), a limit on its size
(large_client_header_buffers, answered 431), and a deadline between two reads of a body
(client_body_timeout)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_S = 10.0
BODY_IDLE_TIMEOUT_S = 30.0
HEAD_MAX_BYTES = 32 * 1024
KEEP_ALIVE_S = 5

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, a head size limit and a body idle
    deadline. A connection past a deadline is closed; nothing of its request reached the app."""

    head_timeout_s = HEAD_TIMEOUT_S
    body_idle_timeout_s = BODY_IDLE_TIMEOUT_S
    head_max_bytes = HEAD_MAX_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The deadline is a number, moved at every step of a request; the one timer behind it
        # is set again only when it fires before the deadline (setting and cancelling a timer at
        # each step costs more than answering a small request).
        self._due: float | None = None  # loop time by which the client must have moved; None: no deadline
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_at = 0.0
        self._awaiting_head = True
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the previous chunk: a head's end may straddle two

    def _arm(self, seconds: float) -> None:
        self._due = self.loop.time() + seconds
        if self._deadline is not None and self._deadline_at > self._due:  # an earlier deadline now
            self._deadline.cancel()
            self._deadline = None
        if self._deadline is None:
            self._deadline = self.loop.call_at(self._due, self._check)
            self._deadline_at = self._due

    def _disarm(self) -> None:
        self._due = None  # a timer still set finds nothing due

    def _check(self) -> None:
        self._deadline = None
        if self._due is None:
            return
        if self.loop.time() < self._due:  # the deadline moved on meanwhile
            self._deadline = self.loop.call_at(self._due, self._check)
            self._deadline_at = self._due
            return
        self._too_slow()

    def _too_slow(self) -> None:
        self._due = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._deadline is not None:  # let the protocol go now, not when the timer fires
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            # Count the head only: a chunk may hold the end of the head and the start of the body.
            end = (self._tail + data).find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._tail = data[-3:]
            if self._head_bytes > self.head_max_bytes:
                self._disarm()
                self.transport.write(_TOO_LARGE)
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        self._tail = b""
        self._arm(self.body_idle_timeout_s)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._arm(self.body_idle_timeout_s)
        super().on_body(body)

    def on_message_complete(self) -> None:
        # The app has the whole request: its own time to answer is not the client's fault.
        self._disarm()
        self._awaiting_head = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(self.head_timeout_s)  # the next request on this connection has its own deadline

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the socket's own pings take over
        super().handle_websocket_upgrade()


def guarded_http(
    head_timeout_s: float = HEAD_TIMEOUT_S,
    body_idle_timeout_s: float = BODY_IDLE_TIMEOUT_S,
    head_max_bytes: int = HEAD_MAX_BYTES,
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http` option, with these limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "head_timeout_s": head_timeout_s,
            "body_idle_timeout_s": body_idle_timeout_s,
            "head_max_bytes": head_max_bytes,
        },
    )
