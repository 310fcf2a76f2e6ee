"""download_file taking over a staged file (streaming sync): real servers, real files."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import pytest
import xxhash

from client.transfer.download.file import download_file
from client.transfer.download.staged import StagedBlock, StagedPart
from client.transfer.download.temp import TempFile
from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import overwrite_at, write_random

SIZE = 3 * BLOCK_SIZE + 4321


async def staged_copy(client, remote: str, folder: Path, indexes: set[int]) -> StagedPart:
    """A staged file holding the blocks ``indexes`` of ``remote``, fetched and verified as a prefetch does."""
    page = await client.file_blocks(remote)
    lock = threading.Lock()
    staged: list[StagedPart] = []

    def record(block, xxh3_64: str) -> None:
        with lock:
            staged[0].blocks[block.index] = StagedBlock(block.sha256, block.size, xxh3_64)
            staged[0].note_written()

    part = TempFile(folder / "staged", page.size, record)
    staged.append(StagedPart(part, page.size, page.content_hash))
    for b in page.blocks:
        if b.index in indexes:
            pieces = await client.get_block_pieces(page.block_servers, b.index, b.block_id, b.grant, b.size)
            assert part.write_verified(b, pieces) == ""
    return staged[0]


def never_read_back(monkeypatch) -> None:
    def refuse(self, block, xxh3_64):
        raise AssertionError(f"block {block.index} was read back")

    monkeypatch.setattr(TempFile, "check_in_place", refuse)


@pytest.fixture
async def uploaded(client, tmp_path) -> bytes:
    src = write_random(tmp_path / "src.bin", SIZE, 11)
    await client.upload_file(src, "/big.bin")
    return src.read_bytes()


async def test_a_staged_file_becomes_the_download(client, uploaded, tmp_path, monkeypatch):
    stage = tmp_path / "stage"
    stage.mkdir()
    staged = await staged_copy(client, "/big.bin", stage, {0, 2, 3})
    staged_inode = os.fstat(staged.part._fd).st_ino
    never_read_back(monkeypatch)  # nothing else wrote to the file: its blocks are kept unread
    indexed: dict[int, str] = {}
    result = await download_file(
        client, "/big.bin", tmp_path / "out.bin", staged=staged, on_block=lambda b, x: indexed.__setitem__(b.index, x)
    )
    assert (tmp_path / "out.bin").read_bytes() == uploaded
    assert result.blocks_copied == 3
    # the kept blocks are reported as written ones are (the daemon indexes them), with their xxh3
    assert indexed == {i: xxhash.xxh3_64_hexdigest(uploaded[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE]) for i in range(4)}
    assert (tmp_path / "out.bin").stat().st_ino == staged_inode  # renamed, not copied
    assert os.listdir(stage) == []


async def test_a_staged_block_changed_on_disk_is_fetched_again(client, uploaded, tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    staged = await staged_copy(client, "/big.bin", stage, {0, 1, 2, 3})
    overwrite_at(staged.part.path, 2 * BLOCK_SIZE + 5, b"flipped")
    assert not staged.unchanged()
    result = await download_file(client, "/big.bin", tmp_path / "out.bin", staged=staged)
    assert (tmp_path / "out.bin").read_bytes() == uploaded
    assert result.blocks_copied == 3


async def test_a_write_right_after_the_last_staged_block_is_seen(client, uploaded, tmp_path):
    # no pause between the staging's last write and the other one (the same clock tick, at times)
    stage = tmp_path / "stage"
    stage.mkdir()
    for i in range(20):
        staged = await staged_copy(client, "/big.bin", stage, {1})
        assert staged.unchanged()
        overwrite_at(staged.part.path, 0, b"x")
        assert not staged.unchanged(), f"attempt {i}: a write left the change stamp as it was"
        staged.part.discard()


async def test_staged_blocks_whose_writes_were_not_noted_are_read_back(client, uploaded, tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    staged = await staged_copy(client, "/big.bin", stage, {0, 1})
    staged.written = None  # a stager that noted nothing
    assert not staged.unchanged()
    overwrite_at(staged.part.path, 5, b"flipped")
    result = await download_file(client, "/big.bin", tmp_path / "out.bin", staged=staged)
    assert (tmp_path / "out.bin").read_bytes() == uploaded
    assert result.blocks_copied == 1  # block 1 checked and kept, block 0 fetched again


async def test_a_staged_file_of_other_content_is_not_used_and_removed(client, uploaded, tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    staged = await staged_copy(client, "/big.bin", stage, {0, 1})
    staged.content_hash = "0" * 64  # staged for another version
    result = await download_file(client, "/big.bin", tmp_path / "out.bin", staged=staged)
    assert (tmp_path / "out.bin").read_bytes() == uploaded
    assert result.blocks_copied == 0
    assert os.listdir(stage) == []


@pytest.mark.skipif(
    not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tempfile.gettempdir()).st_dev,
    reason="needs a second file system (/dev/shm)",
)
async def test_a_staged_file_on_another_file_system_serves_as_local_blocks(client, uploaded, tmp_path):
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        staged = await staged_copy(client, "/big.bin", Path(other), {1, 3})
        overwrite_at(staged.part.path, 3 * BLOCK_SIZE, b"x")  # caught by the copy's check, then downloaded
        result = await download_file(client, "/big.bin", tmp_path / "out.bin", staged=staged)
        assert (tmp_path / "out.bin").read_bytes() == uploaded
        assert result.blocks_copied == 1
        assert os.listdir(other) == []


async def test_a_failed_download_removes_the_staged_file(client, uploaded, tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    staged = await staged_copy(client, "/big.bin", stage, {0})

    def refuse(_path: Path) -> None:
        raise FileExistsError("changed meanwhile")

    with pytest.raises(FileExistsError):
        await download_file(client, "/big.bin", tmp_path / "out.bin", staged=staged, check_target=refuse)
    assert os.listdir(stage) == []
    assert not any(p.name.startswith(".tessera-tmp-") for p in tmp_path.iterdir())
