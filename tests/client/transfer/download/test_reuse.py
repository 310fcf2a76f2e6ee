"""Downloads that copy blocks already on disk instead of fetching them (client/transfer/download/reuse.py),
and that still refuse wrong bytes from the server; against the real servers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import xxhash

from client import TesseraClient
from client.transfer.download.file import TEMP_PREFIX, LocalBlock, download_file
from client.transfer.download.reuse import OldCopy, reuse_old_copy
from client.transfer.download.temp import TempFile
from protocol.errors import HashMismatch
from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import FAST_RETRY, PASSWORD, USER, overwrite_at, write_random

from .test_temp import remote_block


@pytest.fixture
async def gclient(gated) -> AsyncIterator[TesseraClient]:
    await gated.servers.add_user(USER, PASSWORD)
    token = await gated.servers.login(USER, PASSWORD)
    async with TesseraClient(gated.servers.meta_url, token, retry=FAST_RETRY) as c:
        yield c


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


async def test_get_over_an_older_copy_fetches_only_the_changed_blocks(gated, gclient, tmp_path):
    src = write_random(tmp_path / "src.bin", 5 * BLOCK_SIZE + 1000, seed=11)
    await gclient.upload_file(src, "/big.bin")
    out = tmp_path / "out"
    out.mkdir()
    old = out / "big.bin"
    first = await gclient.download_file("/big.bin", old)
    assert first.blocks_copied == 0
    assert len(gated.store.reads) == 6

    overwrite_at(src, 2 * BLOCK_SIZE + 5, b"changed in the middle")
    src.write_bytes(
        src.read_bytes() + os.urandom(BLOCK_SIZE)
    )  # the short last block grows, a new one follows
    await gclient.upload_file(src, "/big.bin")
    gated.store.reads.clear()
    second = await gclient.download_file("/big.bin", old)
    assert old.read_bytes() == src.read_bytes()
    # blocks 0, 1, 3, 4 are the old file's; 2 changed, 5 grew, 6 is new
    assert second.blocks_copied == 4
    assert len(gated.store.reads) == 3
    assert temp_files(out) == []


async def test_moved_blocks_are_found_anywhere_in_the_old_copy(gated, gclient, tmp_path):
    a = os.urandom(BLOCK_SIZE)
    b = os.urandom(BLOCK_SIZE)
    src = tmp_path / "src.bin"
    src.write_bytes(b + a)
    await gclient.upload_file(src, "/swap.bin")
    target = tmp_path / "swap.bin"
    target.write_bytes(a + b + b"tail")  # the same two blocks, the other way round, and a tail
    gated.store.reads.clear()
    result = await gclient.download_file("/swap.bin", target)
    assert target.read_bytes() == b + a
    assert result.blocks_copied == 2
    assert gated.store.reads == []


async def test_reuse_can_be_turned_off(gated, gclient, tmp_path):
    src = write_random(tmp_path / "src.bin", 2 * BLOCK_SIZE, seed=12)
    await gclient.upload_file(src, "/f.bin")
    target = tmp_path / "f.bin"
    target.write_bytes(src.read_bytes())
    gated.store.reads.clear()
    result = await download_file(gclient, "/f.bin", target, reuse_target=False)
    assert result.blocks_copied == 0
    assert len(gated.store.reads) == 2


async def test_a_symlink_at_the_target_is_not_read(gated, gclient, tmp_path):
    src = write_random(tmp_path / "src.bin", BLOCK_SIZE, seed=13)
    await gclient.upload_file(src, "/l.bin")
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_bytes(src.read_bytes())
    link = tmp_path / "l.bin"
    link.symlink_to(elsewhere)
    gated.store.reads.clear()
    result = await gclient.download_file("/l.bin", link)
    assert result.blocks_copied == 0
    assert len(gated.store.reads) == 1
    assert not link.is_symlink() and link.read_bytes() == src.read_bytes()


async def test_wrong_bytes_from_the_server_are_refused_and_nothing_is_renamed(gated, gclient, tmp_path):
    src = write_random(tmp_path / "src.bin", 3 * BLOCK_SIZE, seed=14)
    await gclient.upload_file(src, "/c.bin")
    target = tmp_path / "out" / "c.bin"
    target.parent.mkdir()
    old = write_random(target, 3 * BLOCK_SIZE, seed=15)  # an unrelated old copy: nothing to reuse
    before = old.read_bytes()
    page = await gclient.file_blocks("/c.bin")
    victim = page.blocks[2]
    stored = gated.servers.config.blocks_dir / victim.block_id[:2] / victim.block_id
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0x01  # same size, one bit off: only the SHA-256 can tell
    stored.write_bytes(bytes(data))

    with pytest.raises(HashMismatch) as info:
        await gclient.download_file("/c.bin", target)
    assert "block 2 of /c.bin" in info.value.message
    assert target.read_bytes() == before
    assert temp_files(target.parent) == []
    assert gated.store.reads.count(victim.block_id) == 3  # fetched again before giving up


async def test_a_stale_local_copy_is_downloaded_instead(gated, gclient, tmp_path):
    src = write_random(tmp_path / "src.bin", 2 * BLOCK_SIZE, seed=16)
    await gclient.upload_file(src, "/s.bin")
    stale = write_random(tmp_path / "stale.bin", 2 * BLOCK_SIZE, seed=17)
    offered: list[int] = []

    def local_blocks(block):
        offered.append(block.index)
        return LocalBlock(stale, block.index * BLOCK_SIZE)  # says it has every block: it lies

    gated.store.reads.clear()
    result = await download_file(gclient, "/s.bin", tmp_path / "s.bin", local_blocks=local_blocks)
    assert sorted(offered) == [0, 1]
    assert result.blocks_copied == 0
    assert len(gated.store.reads) == 2
    assert (tmp_path / "s.bin").read_bytes() == src.read_bytes()


async def test_the_pass_over_an_old_copy_writes_what_the_new_version_has(tmp_path):
    a, b, c = os.urandom(BLOCK_SIZE), os.urandom(BLOCK_SIZE), os.urandom(100)
    old = tmp_path / "f.bin"
    old.write_bytes(a + b + c)
    new = [
        remote_block(0, b),
        remote_block(1, os.urandom(BLOCK_SIZE)),
        remote_block(2, b),
        remote_block(3, c),
    ]
    seen: dict[int, str] = {}
    part = TempFile(old, 3 * BLOCK_SIZE + 100, on_block=lambda blk, x: seen.__setitem__(blk.index, x))
    try:
        found = await reuse_old_copy(old, part, new)
        assert found.written == {0, 2, 3}
        assert found.blocks == {
            hashlib.sha256(a).hexdigest(): LocalBlock(old, 0),
            hashlib.sha256(b).hexdigest(): LocalBlock(old, BLOCK_SIZE),
            hashlib.sha256(c).hexdigest(): LocalBlock(old, 2 * BLOCK_SIZE),
        }
        assert seen == {
            0: xxhash.xxh3_64_hexdigest(b),
            2: xxhash.xxh3_64_hexdigest(b),
            3: xxhash.xxh3_64_hexdigest(c),
        }
        written = part.path.read_bytes()
        assert written[:BLOCK_SIZE] == b and written[2 * BLOCK_SIZE : 3 * BLOCK_SIZE] == b
        assert written[3 * BLOCK_SIZE :] == c
    finally:
        part.discard()
    for nothing in (tmp_path / "missing", tmp_path):  # no file, a folder
        part = TempFile(tmp_path / "g.bin", 100)
        try:
            assert await reuse_old_copy(nothing, part, [remote_block(0, c)]) == OldCopy()
        finally:
            part.discard()
