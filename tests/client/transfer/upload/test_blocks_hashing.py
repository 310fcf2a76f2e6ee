"""Hashing for uploads: each block hashed once, in parallel; hashes handed in by a caller; the
xxh3 re-check before a block is sent, and the block server's check behind it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import xxhash

from client import TesseraClient
from client.api.errors import FileChanged
from client.transfer.buffers import BlockBuffers
from client.transfer.filehash import FileHash, FileStamp, LocalFile, StampedHash, hash_file
from client.transfer.progress import NullProgress
from client.transfer.upload.blocks import hash_blocks
from protocol.errors import NotFound
from protocol.hashing import BLOCK_SIZE, BlockHash, content_hash
from tests.client.conftest import FAST_RETRY, PASSWORD, USER, write_random

PUT = "PUT /v1/blocks/{block_id}"


@pytest.fixture
async def counted_client(counted) -> AsyncIterator[TesseraClient]:
    await counted.servers.add_user(USER, PASSWORD)
    token = await counted.servers.login(USER, PASSWORD)
    async with TesseraClient(counted.servers.meta_url, token, retry=FAST_RETRY) as c:
        yield c


def stamped(path: Path) -> StampedHash:
    return StampedHash(FileStamp.of(path.stat()), hash_file(path))


@pytest.mark.parametrize("size", [0, 1, BLOCK_SIZE, 5 * BLOCK_SIZE + 3], ids=["empty", "1", "4MiB", "5.x"])
@pytest.mark.parametrize("workers", [1, 3])
async def test_parallel_hashing_gives_every_block_its_hashes(tmp_path, size, workers):
    src = write_random(tmp_path / "f.bin", size, seed=size)
    local = LocalFile(src)
    try:
        hashed = await hash_blocks(local, NullProgress(), BlockBuffers(workers))
    finally:
        local.close()
    assert hashed == hash_file(src)
    data = src.read_bytes()
    assert [b.size for b in hashed.blocks] == [
        len(data[i : i + BLOCK_SIZE]) for i in range(0, size, BLOCK_SIZE)
    ]
    assert hashed.xxh3 == tuple(
        xxhash.xxh3_64_hexdigest(data[i : i + BLOCK_SIZE]) for i in range(0, size, BLOCK_SIZE)
    )


async def test_hashes_handed_in_are_used_while_the_file_has_their_stamp(counted, counted_client, tmp_path):
    src = write_random(tmp_path / "k.bin", 3 * BLOCK_SIZE + 5, seed=41)
    known = stamped(src)
    result = await counted_client.upload_file(src, "/k.bin", known=known)
    assert (result.blocks_hashed, result.blocks_sent) == (0, 4)
    assert counted.block[PUT] == 4
    assert result.metadata.content_hash == known.hashed.content_hash


async def test_hashes_of_a_file_changed_since_are_not_used(counted_client, tmp_path):
    src = write_random(tmp_path / "k.bin", 2 * BLOCK_SIZE, seed=42)
    known = stamped(src)
    write_random(src, 2 * BLOCK_SIZE, seed=43)  # a new stamp (mtime, maybe inode)
    os.utime(src, ns=(known.stamp.mtime_ns, known.stamp.mtime_ns + 1_000_000_000))
    result = await counted_client.upload_file(src, "/k.bin", known=known)
    assert result.blocks_hashed == 2
    assert result.metadata.content_hash == hash_file(src).content_hash != known.hashed.content_hash


async def test_wrong_hashes_are_refused_by_the_block_server_as_a_changed_file(
    counted, counted_client, tmp_path
):
    """Hashes whose xxh3 fits the bytes but MD5 / SHA-256 do not: the block server's check stops them."""
    src = write_random(tmp_path / "w.bin", 2 * BLOCK_SIZE, seed=44)
    good = stamped(src)
    first = good.hashed.blocks[0]
    lying = dataclasses.replace(first, sha256="0" * 64, md5="0" * 32)
    blocks = (lying, *good.hashed.blocks[1:])
    bad = StampedHash(
        good.stamp,
        FileHash(good.hashed.size, blocks, content_hash(b.sha256 for b in blocks), good.hashed.xxh3),
    )
    with pytest.raises(FileChanged, match="hash_mismatch|does not match"):
        await counted_client.upload_file(src, "/w.bin", known=bad)
    with pytest.raises(NotFound):
        await counted_client.meta("/w.bin")
    assert counted.block[PUT] >= 1  # it was the block server that said no


class _EditKeepingTheStamp:
    """A progress sink that rewrites one byte of the file as sending starts, restoring its mtime."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset

    def phase(self, name: str, total: int) -> None:
        if name == "upload":
            st = self.path.stat()
            with open(self.path, "r+b") as f:
                f.seek(self.offset)
                old = f.read(1)
                f.seek(self.offset)
                f.write(bytes([old[0] ^ 0xFF]))
            os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns))
            assert FileStamp.of(self.path.stat()) == FileStamp.of(st)

    def advance(self, nbytes: int) -> None:
        pass


async def test_a_block_changed_after_hashing_is_caught_before_it_is_sent(counted, counted_client, tmp_path):
    """Size, mtime and inode unchanged: only the xxh3 of the re-read block tells, and no byte goes out."""
    src = write_random(tmp_path / "e.bin", BLOCK_SIZE + 100, seed=45)
    with pytest.raises(FileChanged, match=r"\(block 1\); nothing was committed"):
        await counted_client.upload_file(src, "/e.bin", progress=_EditKeepingTheStamp(src, BLOCK_SIZE + 50))
    with pytest.raises(NotFound):
        await counted_client.meta("/e.bin")
    assert counted.block[PUT] <= 1  # block 0 may have gone; block 1 never did
    stored = {
        r["sha256"]
        for r in await counted.servers.pool.fetch("SELECT sha256 FROM blocks WHERE state = 'stored'")
    }
    assert stored <= {hash_file(src).blocks[0].sha256}  # block 0 is as it was hashed


async def test_a_cancelled_parallel_hash_leaves_the_file_closable(tmp_path):
    src = write_random(tmp_path / "c.bin", 6 * BLOCK_SIZE, seed=46)
    local = LocalFile(src)

    class CancelAfterFirst(NullProgress):
        task: asyncio.Task | None = None

        def advance(self, nbytes: int) -> None:
            if self.task is not None:
                self.task.cancel()

    progress = CancelAfterFirst()
    progress.task = asyncio.ensure_future(hash_blocks(local, progress, BlockBuffers(3)))
    with pytest.raises(asyncio.CancelledError):
        await progress.task
    await asyncio.to_thread(local.close)  # waits for running reads, then closes


def test_stamped_hash_must_describe_a_file_of_its_size(tmp_path):
    src = write_random(tmp_path / "s.bin", 10, seed=47)
    with pytest.raises(ValueError):
        StampedHash(FileStamp(11, 0, 1), hash_file(src))
    with pytest.raises(ValueError):
        FileHash(1, (BlockHash(1, "0" * 32, "0" * 64),), "0" * 64, ())


class _EditWhileHashing:
    """A progress sink that changes the file once the first block is hashed."""

    def __init__(self, path: Path, edit) -> None:
        self.path = path
        self.edit = edit
        self.done = False

    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        if not self.done:
            self.done = True
            self.edit(self.path)


def _truncate(path: Path) -> None:
    os.truncate(path, BLOCK_SIZE // 2)


def _grow(path: Path) -> None:
    with open(path, "ab") as f:
        f.write(b"more")


@pytest.mark.parametrize("edit", [_truncate, _grow], ids=["truncate", "grow"])
async def test_a_file_changed_while_it_is_hashed_is_not_uploaded(counted, counted_client, tmp_path, edit):
    src = write_random(tmp_path / "h.bin", 6 * BLOCK_SIZE, seed=48)
    with pytest.raises(FileChanged):
        await counted_client.upload_file(src, "/h.bin", progress=_EditWhileHashing(src, edit))
    with pytest.raises(NotFound):
        await counted_client.meta("/h.bin")
    assert counted.block[PUT] == 0
