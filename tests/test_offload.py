"""The worker pool: CPU-heavy work runs off the event loop, in threads that yield the CPU to it."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from fieldcast import offload


async def test_work_runs_in_a_worker_thread_not_the_loops() -> None:
    pool = offload.WorkerPool(threads=1)
    try:
        assert await pool.run(threading.get_ident) != threading.get_ident()
    finally:
        pool.shutdown()


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are a Linux feature")
async def test_worker_threads_run_at_a_lower_cpu_priority_than_the_loop() -> None:
    pool = offload.WorkerPool(threads=1)
    try:
        worker = await pool.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    finally:
        pool.shutdown()
    loop_thread = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert worker == min(19, loop_thread + offload.WORKER_NICENESS)
