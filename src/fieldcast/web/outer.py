"""FastAPI with a stack of middlewares in front of FastAPI's own layers.

`app.add_middleware` puts a middleware inside what FastAPI and Starlette wrap every request in:
the telemetry check (which reads the environment per request), the error middleware, the
exception telemetry and the body-limit middleware, two of which wrap `send` in one more coroutine
each. For a handful of middlewares that answer many small requests themselves (a flash sale's
refusals, the metrics around them) that wrapping costs more than their own work. Those are added
with `add_outer_middleware` and run first, in front of all of it; whatever they pass on gets the
whole of FastAPI as before. An outer middleware sees every scope (lifespan included) and must pass
on what it does not answer; an exception it raises reaches the server, which answers 500."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send


class OuterApp(FastAPI):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._outer: list[tuple[type[Any], dict[str, Any]]] = []  # outermost first
        self._outer_stack: ASGIApp | None = None

    def add_outer_middleware(self, cls: type[Any], **options: Any) -> None:
        """As `add_middleware` (the last added runs first), in front of FastAPI's own layers."""
        if self._outer_stack is not None:
            raise RuntimeError("cannot add an outer middleware once the app has started")
        self._outer.insert(0, (cls, options))

    def outer_layer(self, cls: type[Any]) -> Any:
        """The running instance of outer middleware `cls` (None before the first request, or if
        it was not added)."""
        layer: Any = self._outer_stack
        while layer is not None and layer != self._fastapi:
            if isinstance(layer, cls):
                return layer
            layer = getattr(layer, "app", None)
        return None

    async def _fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stack = self._outer_stack
        if stack is None:
            stack = self._fastapi
            for cls, options in reversed(self._outer):
                stack = cls(stack, **options)
            self._outer_stack = stack
        await stack(scope, receive, send)
