"""LocalStore specifics: the directory layout and what failures leave on disk."""

from __future__ import annotations

import asyncio

import pytest

from blockserver.store_local import LocalStore
from protocol.errors import HashMismatch, SizeMismatch
from protocol.hashing import hash_block

from .conftest import body_of, random_bytes, random_id, read_all, stored_files


@pytest.fixture
async def local(tmp_path):
    async with LocalStore(tmp_path / "blocks") as store:
        yield store


async def test_keys_nest_one_level(local):
    block_id = "ab" + random_id()[2:]
    data = random_bytes(10)
    await local.put(block_id, body_of(data), hash_block(data))
    assert local.path_of(block_id) == local.root / "ab" / block_id
    assert stored_files(local.root) == [f"ab/{block_id}"]
    assert (local.root / "ab" / block_id).read_bytes() == data


async def test_start_creates_the_root(tmp_path):
    store = LocalStore(tmp_path / "a" / "b")
    async with store:
        assert store.root.is_dir()


async def test_failures_leave_no_temp_files(local):
    data = random_bytes(700_000)
    block_id = random_id()
    wrong = hash_block(random_bytes(700_000))
    with pytest.raises(HashMismatch):
        await local.put(block_id, body_of(data), wrong)
    with pytest.raises(SizeMismatch):
        await local.put(block_id, body_of(data[:1000]), hash_block(data))

    async def cut_off():
        yield data[:400_000]
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await local.put(block_id, cut_off(), hash_block(data))
    assert stored_files(local.root) == []


async def test_cancelled_put_leaves_no_temp_file(local):
    data = random_bytes(700_000)
    block_id = random_id()
    started = asyncio.Event()

    async def stalls():
        yield data[:300_000]  # one full piece: written to the temp file
        started.set()
        await asyncio.Event().wait()
        yield data[300_000:]

    task = asyncio.create_task(local.put(block_id, stalls(), hash_block(data)))
    await started.wait()
    await asyncio.sleep(0.05)
    assert len(stored_files(local.root)) == 1  # the temp file, invisible as a block
    assert not await local.exists(block_id)
    assert [i async for i in local.list_ids()] == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stored_files(local.root) == []


async def test_list_ids_ignores_strays(local):
    data = random_bytes(10)
    block_id = random_id()
    await local.put(block_id, body_of(data), hash_block(data))
    shard = local.root / block_id[:2]
    (shard / f".{block_id}.x1y2.tmp").write_bytes(b"half")
    (shard / ("ff" + block_id[2:])).write_bytes(b"in the wrong shard")
    (local.root / "zz").mkdir()
    (local.root / "zz" / random_id()).write_bytes(b"not a shard")
    (local.root / "README").write_text("hello")
    assert [i async for i in local.list_ids()] == [block_id]


async def test_empty_or_missing_root_lists_nothing(tmp_path):
    store = LocalStore(tmp_path / "never-created")
    assert [i async for i in store.list_ids()] == []


async def test_reader_keeps_its_bytes_when_the_block_is_replaced(local):
    block_id = random_id()
    old, new = random_bytes(600_000), random_bytes(600_000)
    await local.put(block_id, body_of(old), hash_block(old))
    size, stream = await local.open(block_id)
    async with stream:
        first = await anext(stream)
        await local.put(block_id, body_of(new), hash_block(new))
        rest = b"".join([p async for p in stream])
    assert first + rest == old
    assert await read_all(local, block_id) == new
