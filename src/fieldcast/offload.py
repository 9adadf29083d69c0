"""CPU-heavy work (argon2 password hashes, Pillow image decoding) off the event loop: a bounded
pool of worker threads per process, and a memory budget for the work that needs a lot of it.

argon2-cffi and Pillow's decoders release the GIL, so while a hash or a decode runs in a worker the
event loop keeps answering (/healthz, room sockets). The pool has a fixed number of threads (the
`worker_threads` setting): sixty-four sign-ins at once queue behind it instead of taking every
core. Work that declares a memory cost (an image's decoded size) also waits until the process'
budget (`image_memory_budget_mb`) has room, so eight huge images do not decode side by side.
On Linux the worker threads also run at a lower CPU priority (10 nice steps) than the event loop: on
a busy machine the loop, which answers everyone, is scheduled first, and the hashes take what is
left. `configure` is called once at start-up by the composition root; the defaults serve the CLI
and tests."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_THREADS = 2
DEFAULT_MEMORY_BUDGET_BYTES = 256 * 1024 * 1024
WORKER_NICENESS = 10


def _lower_priority() -> None:
    """Run in each worker thread as it starts. Linux gives each thread its own nice value; other
    systems would renice the whole process, so there it is left alone."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            thread = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + WORKER_NICENESS))


class OverBudget(Exception):
    """The work alone needs more memory than the whole budget: it can never run."""


class _Budget:
    """A weighted semaphore of bytes, for the event loop it was made on. Release is synchronous,
    so it can run from a done-callback when the waiting request was cancelled mid-work."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self, amount: int) -> None:
        while self.used + amount > self.total:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.used += amount

    def release(self, amount: int) -> None:
        self.used -= amount
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class WorkerPool:
    def __init__(self, threads: int = DEFAULT_THREADS, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES) -> None:
        self.threads = threads
        self.memory_budget_bytes = memory_budget_bytes
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="fieldcast-worker", initializer=_lower_priority
        )
        # One budget per event loop (tests run several loops one after another; production one).
        self._budgets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Budget] = weakref.WeakKeyDictionary()

    def _budget(self, loop: asyncio.AbstractEventLoop) -> _Budget:
        budget = self._budgets.get(loop)
        if budget is None:
            budget = self._budgets[loop] = _Budget(self.memory_budget_bytes)
        return budget

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` in a worker thread; the caller awaits without holding up the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def run_within_budget(self, memory_bytes: int, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Like `run`, once `memory_bytes` of the budget are free; they are held until `fn` returns."""
        if memory_bytes > self.memory_budget_bytes:
            raise OverBudget(memory_bytes)
        loop = asyncio.get_running_loop()
        budget = self._budget(loop)
        await budget.acquire(memory_bytes)
        work = loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))
        # The memory is in use until the thread is done, even when the request gives up first.
        work.add_done_callback(lambda _: budget.release(memory_bytes))
        return await asyncio.shield(work)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool = WorkerPool()


def configure(threads: int, memory_budget_bytes: int) -> None:
    """Size the process' pool (at start-up, from settings); a pool already of this size is kept."""
    global _pool
    if (_pool.threads, _pool.memory_budget_bytes) == (threads, memory_budget_bytes):
        return
    old, _pool = _pool, WorkerPool(threads, memory_budget_bytes)
    old.shutdown()


def pool() -> WorkerPool:
    return _pool


async def run(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    return await _pool.run(fn, *args, **kwargs)


async def run_within_budget(memory_bytes: int, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    return await _pool.run_within_budget(memory_bytes, fn, *args, **kwargs)
