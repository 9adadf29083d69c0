"""OuterApp (web/outer.py): middlewares in front of FastAPI's own layers answer what they answer
without FastAPI seeing it, pass everything else (lifespan included) to the whole app, and run in
the order add_middleware would give them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fieldcast.web.outer import OuterApp


class Tag:
    """Answers GET /tagged itself; otherwise passes on, noting its name on the way."""

    def __init__(self, app: ASGIApp, name: str, seen: list[str]) -> None:
        self.app, self.name, self.seen = app, name, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(f"{self.name}:{scope['type']}")
        if scope["type"] == "http" and scope["path"] == "/tagged":
            await PlainTextResponse(self.name)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def test_outer_middlewares_run_first_and_pass_on_what_they_do_not_answer() -> None:
    seen: list[str] = []
    started: list[bool] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        started.append(True)
        yield

    app = OuterApp(lifespan=lifespan)

    @app.get("/inner")
    async def inner() -> dict[str, Any]:
        return {"ok": True}

    @app.middleware("http")
    async def inside(request: Any, call_next: Any) -> Any:
        seen.append("inside")
        return await call_next(request)

    app.add_outer_middleware(Tag, name="second", seen=seen)
    app.add_outer_middleware(Tag, name="first", seen=seen)  # the last added runs first
    async with app.router.lifespan_context(app):
        pass
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        r = await http.get("/tagged")
        assert r.text == "first" and seen == ["first:http"]  # FastAPI never saw it
        assert app.outer_layer(Tag).name == "first"
        seen.clear()
        r = await http.get("/inner")
        assert r.json() == {"ok": True}
        assert seen == ["first:http", "second:http", "inside"]
    assert started == [True]
    with pytest.raises(RuntimeError):
        app.add_outer_middleware(Tag, name="late", seen=seen)


async def test_lifespan_goes_through_the_outer_stack_to_fastapi() -> None:
    seen: list[str] = []
    app = OuterApp()
    app.add_outer_middleware(Tag, name="only", seen=seen)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert seen == ["only:lifespan"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
