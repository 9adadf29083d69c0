"""How often an adapter's calls to its shared backend (Redis) failed: a plain count on the adapter
that the metrics scrape reads. The in-process twins never fail that way and stay at 0.

Counting happens in the adapter, once per call, whatever the caller then does with the error (the
relay retries, the hub's tick logs and goes on, a request answers 500)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar


class CountsBackendErrors(Protocol):
    backend_errors: int


Adapter = TypeVar("Adapter", bound=CountsBackendErrors)
P = ParamSpec("P")
R = TypeVar("R")


def counts_errors(
    call: Callable[Concatenate[Adapter, P], Awaitable[R]],
) -> Callable[Concatenate[Adapter, P], Coroutine[Any, Any, R]]:
    """Decorate an adapter method that talks to the backend: an exception it raises adds one to
    the adapter's `backend_errors` and goes on up. Cancellation is not an error."""

    @functools.wraps(call)
    async def counted(adapter: Adapter, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await call(adapter, *args, **kwargs)
        except Exception:
            adapter.backend_errors += 1
            raise

    return counted
