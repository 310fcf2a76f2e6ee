"""The BlockStore contract, run against every backend (LocalStore and S3Store on moto)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from blockserver.stores.local import LocalStore
from protocol.errors import BadRequest, BlockTooLarge, HashMismatch, NotFound, SizeMismatch
from protocol.hashing import BLOCK_SIZE, hash_block

from ..conftest import body_of, random_bytes, random_id, read_all, stored_files

BAD_KEYS = [
    "",
    "ABCDEF0123456789ABCDEF0123456789",  # upper case
    "12345678-1234-1234-1234-123456789abc",  # dashed uuid
    "0123456789abcdef0123456789abcde",  # 31 digits
    "0123456789abcdef0123456789abcdef0",  # 33 digits
    "0123456789abcdef0123456789abcdeg",  # not hex
    "../../../../../../../etc/passwd00",
    "0123456789abcdef/123456789abcdef",
    None,
]


@pytest.mark.parametrize("size", [1, 1000, BLOCK_SIZE])
async def test_put_then_read_back(store, size):
    data = random_bytes(size)
    block_id = random_id()
    # uneven pieces, as a network delivers them
    pieces = [data[i : i + 70_001] for i in range(0, size, 70_001)]
    await store.put(block_id, body_of(*pieces), hash_block(data))
    assert await store.exists(block_id)
    assert await store.size(block_id) == size
    assert await read_all(store, block_id) == data


async def test_wrong_md5_is_rejected_and_invisible(store):
    data = random_bytes(5000)
    block_id = random_id()
    expected = dataclasses.replace(hash_block(data), md5=hash_block(b"other").md5)
    with pytest.raises(HashMismatch) as e:
        await store.put(block_id, body_of(data), expected)
    assert e.value.details["mismatch"] == ["md5"]
    assert not await store.exists(block_id)


async def test_wrong_sha256_is_rejected_and_invisible(store):
    data = random_bytes(5000)
    block_id = random_id()
    expected = dataclasses.replace(hash_block(data), sha256=hash_block(b"other").sha256)
    with pytest.raises(HashMismatch) as e:
        await store.put(block_id, body_of(data), expected)
    assert e.value.details["mismatch"] == ["sha256"]
    assert not await store.exists(block_id)


async def test_short_body_is_rejected(store):
    data = random_bytes(5000)
    block_id = random_id()
    with pytest.raises(SizeMismatch):
        await store.put(block_id, body_of(data[:4999]), hash_block(data))
    assert not await store.exists(block_id)


async def test_long_body_is_rejected_as_soon_as_it_overflows(store):
    data = random_bytes(3000)
    block_id = random_id()
    pulled = []

    async def body():
        for piece in (data[:2000], data[2000:] + b"x", b"never read"):
            pulled.append(piece)
            yield piece

    with pytest.raises(BlockTooLarge):
        await store.put(block_id, body(), hash_block(data))
    assert len(pulled) == 2  # stopped at the piece that went over
    assert not await store.exists(block_id)


async def test_failing_body_leaves_nothing(store):
    data = random_bytes(600_000)
    block_id = random_id()

    async def body():
        yield data[:300_000]
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put(block_id, body(), hash_block(data))
    assert not await store.exists(block_id)


async def test_cancelled_put_leaves_nothing(store):
    data = random_bytes(600_000)
    block_id = random_id()
    halfway = asyncio.Event()

    async def body():
        yield data[:300_000]
        halfway.set()
        await asyncio.Event().wait()  # the rest never comes
        yield data[300_000:]

    task = asyncio.create_task(store.put(block_id, body(), hash_block(data)))
    await halfway.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await store.exists(block_id)


async def test_failed_put_keeps_the_block_already_stored(store):
    data = random_bytes(2000)
    block_id = random_id()
    await store.put(block_id, body_of(data), hash_block(data))
    with pytest.raises(HashMismatch):
        await store.put(block_id, body_of(random_bytes(2000)), hash_block(data))
    assert await read_all(store, block_id) == data


async def test_put_replaces_a_block_whole(store):
    block_id = random_id()
    old, new = random_bytes(3000), random_bytes(1000)
    await store.put(block_id, body_of(old), hash_block(old))
    await store.put(block_id, body_of(new), hash_block(new))
    assert await read_all(store, block_id) == new


async def test_absent_block(store):
    block_id = random_id()
    assert not await store.exists(block_id)
    with pytest.raises(NotFound):
        await store.open(block_id)
    with pytest.raises(NotFound):
        await store.size(block_id)
    await store.delete(block_id)  # not an error


async def test_delete(store):
    data = random_bytes(100)
    block_id = random_id()
    await store.put(block_id, body_of(data), hash_block(data))
    await store.delete(block_id)
    assert not await store.exists(block_id)
    with pytest.raises(NotFound):
        await store.open(block_id)


async def test_list_ids_lists_only_complete_blocks(store):
    good = []
    for _ in range(5):
        data = random_bytes(100)
        block_id = random_id()
        await store.put(block_id, body_of(data), hash_block(data))
        good.append(block_id)
    data = random_bytes(100)
    with pytest.raises(SizeMismatch):
        await store.put(random_id(), body_of(data[:50]), hash_block(data))
    assert sorted([i async for i in store.list_ids()]) == sorted(good)


async def test_stream_closed_early(store):
    data = random_bytes(BLOCK_SIZE)
    block_id = random_id()
    await store.put(block_id, body_of(data), hash_block(data))
    size, stream = await store.open(block_id)
    async with stream:
        first = await anext(stream)
    assert size == BLOCK_SIZE
    assert data.startswith(first)
    await stream.aclose()  # twice is harmless
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_invalid_keys_are_rejected(store, key):
    data = b"x"
    with pytest.raises(BadRequest):
        await store.put(key, body_of(data), hash_block(data))
    for method in (store.open, store.size, store.exists, store.delete):
        with pytest.raises(BadRequest):
            await method(key)


async def test_concurrent_puts(store):
    blocks = {random_id(): random_bytes(300_000 + i) for i in range(8)}
    await asyncio.gather(*(store.put(i, body_of(d), hash_block(d)) for i, d in blocks.items()))
    got = await asyncio.gather(*(read_all(store, i) for i in blocks))
    assert got == list(blocks.values())


async def test_put_small_stores_the_good_and_refuses_the_bad(store):
    good = [random_bytes(n) for n in (1, 4096, 60_000)]
    ids = [random_id() for _ in range(6)]
    wrong = random_bytes(100)
    blocks = [(ids[i], d, hash_block(d)) for i, d in enumerate(good)]
    blocks.append((ids[3], wrong, hash_block(random_bytes(100))))  # another content: hash mismatch
    blocks.append((ids[4], wrong[:50], hash_block(wrong)))  # short
    blocks.append((ids[5], wrong + b"!", hash_block(wrong)))  # long
    errors = await store.put_small(blocks)
    assert errors[:3] == [None, None, None]
    assert [type(e) for e in errors[3:]] == [HashMismatch, SizeMismatch, BlockTooLarge]
    for i, d in enumerate(good):
        assert await read_all(store, ids[i]) == d
    for bad in ids[3:]:
        assert not await store.exists(bad)
    if isinstance(store, LocalStore):  # no temp file left behind
        assert sorted(stored_files(store.root)) == sorted(f"{b[:2]}/{b}" for b in ids[:3])
    assert await store.read_small([ids[0], ids[3], ids[2]]) == [good[0], None, good[2]]
