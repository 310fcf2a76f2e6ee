"""bounded_map: the concurrency limit, lazy pulling, and plain (ungrouped) errors."""

from __future__ import annotations

import asyncio

import pytest

from client.transfer.concurrency import bounded_map


async def test_limit_is_respected_and_every_item_runs():
    running = 0
    peak = 0
    done: list[int] = []

    async def work(i: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (i % 3))
        running -= 1
        done.append(i)

    await bounded_map(range(50), work, limit=4)
    assert sorted(done) == list(range(50))
    assert peak == 4


async def test_items_are_pulled_lazily_and_the_source_is_closed():
    pulled = 0
    closed = False

    async def source():
        nonlocal pulled, closed
        try:
            for i in range(10_000):
                pulled += 1
                yield i
        finally:
            closed = True

    async def work(i: int) -> None:
        if i == 5:
            raise KeyError("boom")
        await asyncio.sleep(0)

    with pytest.raises(KeyError, match="boom"):  # the error itself, not an ExceptionGroup
        await bounded_map(source(), work, limit=3)
    assert pulled < 50
    assert closed


async def test_first_real_error_wins_over_cancellations():
    started = asyncio.Event()

    async def work(i: int) -> None:
        if i == 0:
            started.set()
            await asyncio.sleep(10)
        else:
            await started.wait()
            raise ValueError(f"item {i}")

    with pytest.raises(ValueError, match="item"):
        await asyncio.wait_for(bounded_map([0, 1], work, limit=2), timeout=5)
