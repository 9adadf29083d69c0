"""The claim writer gives way to a flash sale's burst (payments/claims.py `Load`): it writes once
the process has been calm for a moment, not in a dip between two waves of taps, and never later
than its cap."""

from __future__ import annotations

import asyncio
import time

from fieldcast.payments.claims import Load


async def test_the_writer_waits_for_a_calm_moment_after_a_burst() -> None:
    load = Load(busy_at=2, calm_s=0.3)
    load.enter()
    load.enter()  # busy
    calm = asyncio.create_task(load.calm(5.0))
    await asyncio.sleep(0.05)
    assert not calm.done()
    load.leave()  # a dip: fewer than busy_at in flight
    left_at = time.monotonic()
    await asyncio.sleep(0.1)
    assert not calm.done()  # not calm for long enough yet
    load.enter()  # the next wave
    await asyncio.sleep(0.35)
    assert not calm.done()  # busy again: still waiting
    load.leave()
    left_at = time.monotonic()
    await asyncio.wait_for(calm, 2.0)
    assert time.monotonic() - left_at >= 0.3


async def test_the_writer_waits_no_longer_than_its_cap() -> None:
    load = Load(busy_at=1, calm_s=0.3)
    load.enter()  # busy, and stays so
    began = time.monotonic()
    await asyncio.wait_for(load.calm(0.2), 2.0)
    assert 0.2 <= time.monotonic() - began < 1.0


async def test_a_process_that_was_never_busy_writes_at_once() -> None:
    load = Load(busy_at=5, calm_s=10.0)
    load.enter()
    await asyncio.wait_for(load.calm(5.0), 0.5)
