"""LocalStore specifics: the directory layout and what failures leave on disk."""

from __future__ import annotations

import asyncio

import pytest

from blockserver.stores.local import LocalStore
from protocol.errors import HashMismatch, InsufficientStorage, SizeMismatch
from protocol.hashing import hash_block

from ..conftest import body_of, random_bytes, random_id, read_all, stored_files


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


# -- put_small: unnamed files (O_TMPFILE) named once durable ---------------------------------------


def _small_blocks(n: int) -> list[tuple[str, bytes, object]]:
    out = []
    for _ in range(n):
        data = random_bytes(4096)
        out.append((random_id(), data, hash_block(data)))
    return out


async def test_put_small_names_unnamed_files_where_the_os_allows(local, monkeypatch):
    from blockserver.stores import local as store_local
    from blockserver.stores import unnamed_files

    if unnamed_files.open_unnamed(local.root) is None:
        pytest.skip("no O_TMPFILE here")
    made = []
    real = store_local.open_unnamed

    def counting(folder):
        fd = real(folder)
        made.append(fd)
        return fd

    monkeypatch.setattr(store_local, "open_unnamed", counting)
    blocks = _small_blocks(5)
    assert await local.put_small(blocks) == [None] * 5
    assert len(made) == 5 and None not in made
    assert stored_files(local.root) == sorted(f"{b[:2]}/{b}" for b, _, _ in blocks)  # no temp names
    for block_id, data, _ in blocks:
        assert await read_all(local, block_id) == data


async def test_put_small_without_unnamed_files_uses_temp_files(local, monkeypatch):
    from blockserver.stores import local as store_local

    monkeypatch.setattr(store_local, "open_unnamed", lambda _folder: None)
    blocks = _small_blocks(3)
    assert await local.put_small(blocks) == [None] * 3
    assert stored_files(local.root) == sorted(f"{b[:2]}/{b}" for b, _, _ in blocks)
    for block_id, data, _ in blocks:
        assert await read_all(local, block_id) == data


@pytest.mark.parametrize("unnamed", [True, False])
async def test_put_small_replaces_a_block_file_already_there(local, monkeypatch, unnamed):
    """An earlier attempt's file under the final name (never marked stored) is replaced whole."""
    from blockserver.stores import local as store_local

    if not unnamed:
        monkeypatch.setattr(store_local, "open_unnamed", lambda _folder: None)
    [(block_id, data, want)] = _small_blocks(1)
    path = local.path_of(block_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a torn earlier attempt")
    assert await local.put_small([(block_id, data, want)]) == [None]
    assert path.read_bytes() == data
    assert stored_files(local.root) == [f"{block_id[:2]}/{block_id}"]


async def test_put_small_failing_to_name_leaves_no_temp_file(local, monkeypatch):
    from blockserver.stores import local as store_local

    calls = []
    real = store_local.name_unnamed

    def failing_second(fd, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        real(fd, path)

    monkeypatch.setattr(store_local, "name_unnamed", failing_second)
    blocks = _small_blocks(3)
    if store_local.open_unnamed(local.root) is None:
        pytest.skip("no O_TMPFILE here")
    with pytest.raises(InsufficientStorage):  # ENOSPC: the disk is full, said as such
        await local.put_small(blocks)
    # the first block got its name (never marked stored: the caller saw the error); nothing else
    assert stored_files(local.root) == [f"{blocks[0][0][:2]}/{blocks[0][0]}"]
