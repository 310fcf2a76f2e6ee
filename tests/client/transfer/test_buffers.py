"""The block buffer pool."""

from __future__ import annotations

import asyncio

import pytest

from client.transfer.buffers import BlockBuffers


async def test_buffers_are_reused_and_bounded():
    pool = BlockBuffers(2, size=16)
    async with pool.take() as a:
        assert len(a) == 16
    async with pool.take() as again:
        assert again is a  # reused, not allocated again

    inside = 0
    most = 0
    seen: set[int] = set()

    async def user() -> None:
        nonlocal inside, most
        async with pool.take() as buf:
            seen.add(id(buf))
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(user() for _ in range(10)))
    assert most == 2 and len(seen) == 2


async def test_a_failed_users_buffer_is_not_reused():
    pool = BlockBuffers(1, size=8)
    with pytest.raises(RuntimeError):
        async with pool.take() as failed:
            raise RuntimeError("boom")
    async with pool.take() as buf:
        assert buf is not failed  # a thread may still be using the failed one
        assert len(buf) == 8


def test_count_must_be_positive():
    with pytest.raises(ValueError):
        BlockBuffers(0)
