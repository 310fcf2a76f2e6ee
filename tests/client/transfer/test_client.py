"""Whole-file upload and download through the library, against the real servers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from client import TesseraClient
from client.api.errors import FileChanged
from client.transfer.download.file import TEMP_PREFIX
from client.transfer.filehash import hash_file, wire_mtime
from client.transfer.upload import file as transfer_upload
from protocol.errors import BadRequest, Conflict, HashMismatch, IsAFolder, NotFound
from protocol.hashing import BLOCK_SIZE
from protocol.times import MAX_FILE_TIME
from tests.client.conftest import FAST_RETRY, write_random


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


async def round_trip(client: TesseraClient, src: Path, remote: str, tmp_path: Path) -> Path:
    up = await client.upload_file(src, remote)
    local_hash = content_hash_of(src)
    assert up.metadata.path == remote
    assert up.metadata.size == size_of(src)
    assert up.metadata.content_hash == local_hash

    out = tmp_path / "downloaded" / src.name
    out.parent.mkdir(exist_ok=True)
    down = await client.download_file(remote, out)
    assert down.rev == up.metadata.rev
    assert down.content_hash == local_hash
    assert size_of(out) == size_of(src)
    assert file_sha256(out) == file_sha256(src)
    assert content_hash_of(out) == local_hash
    assert temp_files(out.parent) == []
    return out


def size_of(path: Path) -> int:
    return path.stat().st_size


def content_hash_of(path: Path) -> str:
    return hash_file(path).content_hash


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@pytest.mark.parametrize(
    "size",
    [0, 1, BLOCK_SIZE, BLOCK_SIZE + 1],
    ids=["empty", "1-byte", "4MiB", "4MiB+1"],
)
async def test_round_trip_sizes(client, tmp_path, size):
    src = write_random(tmp_path / f"f{size}.bin", size, seed=size)
    up_count = hashlib.sha256(b"").hexdigest() if size == 0 else None
    out = await round_trip(client, src, f"/sizes/f{size}.bin", tmp_path)
    if up_count is not None:
        assert (await client.meta(f"/sizes/f{size}.bin")).content_hash == up_count
        assert out.read_bytes() == b""


@pytest.mark.slow
async def test_round_trip_50_mib_in_bounded_memory(servers, token, tmp_path):
    """50 MiB through 2 transfers at a time: Python memory stays far below the file size.

    tracemalloc sees the servers too (same process); reading the file whole
    would alone exceed the bounds.
    """
    src = write_random(tmp_path / "big.bin", 50 * 1024 * 1024 + 12345, seed=50)
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY, transfer_concurrency=2) as client:
        tracemalloc.start()
        try:
            up = await client.upload_file(src, "/big/big.bin")
            upload_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            out = tmp_path / "big.out"
            await client.download_file("/big/big.bin", out)
            download_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert up.blocks_sent == 13
    assert upload_peak < 32 * 1024 * 1024, upload_peak
    assert download_peak < 24 * 1024 * 1024, download_peak
    assert file_sha256(out) == file_sha256(src)
    assert content_hash_of(out) == up.metadata.content_hash


async def test_repeated_blocks_are_sent_once(client, servers, tmp_path):
    block = os.urandom(BLOCK_SIZE)
    src = tmp_path / "repeats.bin"
    src.write_bytes(block * 3 + b"tail")
    up = await client.upload_file(src, "/repeats.bin")
    assert up.blocks_total == 4
    assert up.blocks_sent == 2  # the repeated block once, the tail once
    assert up.bytes_sent == BLOCK_SIZE + 4
    assert await servers.pool.fetchval("SELECT count(*) FROM blocks") == 2
    await round_trip(client, src, "/repeats-again.bin", tmp_path)


async def test_same_content_twice_sends_no_block(client, servers, tmp_path):
    src = write_random(tmp_path / "dup.bin", 2 * BLOCK_SIZE + 100, seed=7)
    first = await client.upload_file(src, "/one/dup.bin")
    assert first.blocks_sent == 3
    blocks_before = await servers.pool.fetchval("SELECT count(*) FROM blocks")
    stored_at_before = await servers.pool.fetch("SELECT id, stored_at FROM blocks ORDER BY id")

    hashed = hash_file(src)
    session = await client.create_upload(
        "/two/dup.bin", hashed.size, hashed.blocks, content_hash=hashed.content_hash
    )
    assert session.needed == 0
    assert all(b.state == "stored" and b.grant is None for b in session.blocks)

    second = await client.upload_file(src, "/two/dup.bin")
    assert second.blocks_sent == 0 and second.bytes_sent == 0
    assert second.metadata.content_hash == first.metadata.content_hash
    assert await servers.pool.fetchval("SELECT count(*) FROM blocks") == blocks_before
    assert await servers.pool.fetch("SELECT id, stored_at FROM blocks ORDER BY id") == stored_at_before
    await round_trip(client, src, "/two/dup.bin", tmp_path)


async def test_overwrite_and_download_old_revision(client, tmp_path):
    v1 = write_random(tmp_path / "v1.bin", 1000, seed=1)
    v2 = write_random(tmp_path / "v2.bin", 2000, seed=2)
    r1 = await client.upload_file(v1, "/doc.bin")
    r2 = await client.upload_file(v2, "/doc.bin")
    assert r2.metadata.rev != r1.metadata.rev
    out = tmp_path / "old.bin"
    result = await client.download_file("/doc.bin", out, rev=r1.metadata.rev)
    assert result.rev == r1.metadata.rev
    assert out.read_bytes() == v1.read_bytes()
    await client.download_file("/doc.bin", out)  # replaces the existing file
    assert out.read_bytes() == v2.read_bytes()


async def test_a_download_has_the_uploaders_modification_time(client, tmp_path, monkeypatch):
    v1 = write_random(tmp_path / "v1.bin", 1000, seed=1)
    v2 = write_random(tmp_path / "v2.bin", BLOCK_SIZE + 10, seed=2)
    june_2019, new_year = 1_559_390_400_123_456_000, 1_767_225_600_654_321_000
    os.utime(v1, ns=(june_2019, june_2019))
    os.utime(v2, ns=(new_year, new_year))
    r1 = await client.upload_file(v1, "/t.bin")
    r2 = await client.upload_file(v2, "/t.bin")
    assert r1.metadata.client_modified == june_2019 / 1e9 and r2.metadata.client_modified == new_year / 1e9
    assert r2.metadata.modified is not None and r2.metadata.modified > r2.metadata.client_modified  # committed now
    out = tmp_path / "t.bin"
    await client.download_file("/t.bin", out, rev=r1.metadata.rev)
    assert abs(out.stat().st_mtime_ns - june_2019) < 2_000  # the microseconds the server keeps
    await client.download_file("/t.bin", out)  # the newer revision, over the older one
    assert abs(out.stat().st_mtime_ns - new_year) < 2_000
    page = await client.file_blocks("/t.bin")
    assert page.modified == r2.metadata.modified and page.client_modified == new_year / 1e9
    assert (await client.meta("/t.bin")).client_modified == new_year / 1e9
    assert [r.client_modified for r in (await client.revisions("/t.bin")).revisions] == [new_year / 1e9, june_2019 / 1e9]
    # a restore brings the revision's own time back with it
    back = await client.restore("/t.bin", r1.metadata.rev)
    assert back.client_modified == june_2019 / 1e9

    # an upload that says nothing (an older client; a file from before 1970): the commit time
    monkeypatch.setattr(transfer_upload, "wire_mtime", lambda _ns: None)
    r3 = await client.upload_file(write_random(tmp_path / "v3.bin", 10, seed=3), "/u.bin")
    assert r3.metadata.client_modified is None and r3.metadata.modified is not None
    await client.download_file("/u.bin", out)
    assert abs(out.stat().st_mtime_ns - r3.metadata.modified * 1e9) < 2_000


def test_file_times_the_server_does_not_take_are_not_sent():
    assert wire_mtime(1_559_390_400_000_000_000) == 1_559_390_400.0
    assert wire_mtime(0) == 0.0
    assert wire_mtime(-1_000_000_000) is None  # before 1970
    assert wire_mtime((MAX_FILE_TIME + 1) * 10**9) is None


async def test_corrupt_block_is_detected(client, servers, tmp_path):
    src = write_random(tmp_path / "c.bin", BLOCK_SIZE + 500, seed=3)
    await client.upload_file(src, "/c.bin")
    page = await client.file_blocks("/c.bin")
    victim = page.blocks[1]
    stored = servers.config.blocks_dir / victim.block_id[:2] / victim.block_id
    data = bytearray(stored.read_bytes())
    data[10] ^= 0xFF  # same size, wrong content
    stored.write_bytes(bytes(data))

    target_dir = tmp_path / "out"
    target_dir.mkdir()
    with pytest.raises(HashMismatch) as info:
        await client.download_file("/c.bin", target_dir / "c.bin")
    assert "block 1 of /c.bin" in info.value.message
    assert list(target_dir.iterdir()) == []  # no file at the target, no temp file


async def test_truncated_block_is_detected_and_old_file_kept(client, servers, tmp_path):
    src = write_random(tmp_path / "t.bin", 3000, seed=4)
    await client.upload_file(src, "/t.bin")
    page = await client.file_blocks("/t.bin")
    stored = servers.config.blocks_dir / page.blocks[0].block_id[:2] / page.blocks[0].block_id
    stored.write_bytes(stored.read_bytes()[:100])

    target = tmp_path / "out" / "t.bin"
    target.parent.mkdir()
    target.write_bytes(b"previous content")
    with pytest.raises(HashMismatch):
        await client.download_file("/t.bin", target)
    assert target.read_bytes() == b"previous content"
    assert temp_files(target.parent) == []


async def test_download_errors_leave_nothing(client, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(NotFound):
        await client.download_file("/no/such/file", out / "x")
    await client.mkdir("/folder")
    with pytest.raises((IsAFolder, NotFound)):
        await client.download_file("/folder", out / "y")
    with pytest.raises(FileNotFoundError):
        await client.download_file("/folder", out / "missing-dir" / "z")
    with pytest.raises(IsADirectoryError):
        await client.download_file("/folder", out)
    assert list(out.iterdir()) == []


class _EditWhenUploadStarts:
    """A progress sink that edits the file right after it was hashed."""

    def __init__(self, path: Path, edit) -> None:
        self.path = path
        self.edit = edit

    def phase(self, name: str, total: int) -> None:
        if name == "upload":
            self.edit(self.path)

    def advance(self, nbytes: int) -> None:
        pass


def _rewrite_in_place(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(BLOCK_SIZE + 7)
        f.write(b"X")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))  # even with an old mtime


def _append(path: Path) -> None:
    with open(path, "ab") as f:
        f.write(b"more")


@pytest.mark.parametrize("edit", [_rewrite_in_place, _append], ids=["rewrite", "append"])
async def test_file_changed_during_upload_is_not_committed(client, tmp_path, edit):
    src = write_random(tmp_path / "moving.bin", 2 * BLOCK_SIZE, seed=5)
    with pytest.raises(FileChanged):
        await client.upload_file(src, "/moving.bin", progress=_EditWhenUploadStarts(src, edit))
    with pytest.raises(NotFound):
        await client.meta("/moving.bin")


async def test_upload_of_missing_or_folder_local_path(client, tmp_path):
    with pytest.raises(FileNotFoundError):
        await client.upload_file(tmp_path / "nope", "/nope")
    with pytest.raises(IsADirectoryError):
        await client.upload_file(tmp_path, "/dir")


class _CancelOnFirstBlock:
    """A progress sink that cancels the transfer's task once a block of ``phase`` is done."""

    def __init__(self, phase: str) -> None:
        self.phase_name = phase
        self.current = ""
        self.task: asyncio.Task | None = None
        self.cancelled = False

    def phase(self, name: str, total: int) -> None:
        self.current = name

    def advance(self, nbytes: int) -> None:
        if self.task is not None and self.current == self.phase_name and not self.cancelled:
            self.cancelled = True
            self.task.cancel()


async def test_cancelled_transfers_leave_nothing_behind(client, tmp_path):
    src = write_random(tmp_path / "src.bin", 6 * BLOCK_SIZE, seed=21)
    await client.upload_file(src, "/done.bin")

    out = tmp_path / "out"
    out.mkdir()
    stopper = _CancelOnFirstBlock("download")
    stopper.task = asyncio.ensure_future(
        client.download_file("/done.bin", out / "done.bin", progress=stopper)
    )
    with pytest.raises(asyncio.CancelledError):
        await stopper.task
    assert stopper.cancelled and list(out.iterdir()) == []

    other = write_random(tmp_path / "other.bin", 6 * BLOCK_SIZE, seed=22)
    for phase in ("hash", "upload"):
        stopper = _CancelOnFirstBlock(phase)
        stopper.task = asyncio.ensure_future(client.upload_file(other, "/never.bin", progress=stopper))
        with pytest.raises(asyncio.CancelledError):
            await stopper.task
        assert stopper.cancelled
        with pytest.raises(NotFound):
            await client.meta("/never.bin")


async def test_upload_modes(client, tmp_path):
    v1 = write_random(tmp_path / "v1.bin", 100, seed=31)
    v2 = write_random(tmp_path / "v2.bin", 200, seed=32)
    r1 = await client.upload_file(v1, "/m.bin", mode="add")
    again = await client.upload_file(v1, "/m.bin", mode="add")  # same content: no conflict, no new rev
    assert again.metadata.rev == r1.metadata.rev
    with pytest.raises(Conflict):
        await client.upload_file(v2, "/m.bin", mode="add")
    r2 = await client.upload_file(v2, "/m.bin", mode="update", parent_rev=r1.metadata.rev)
    with pytest.raises(Conflict):
        await client.upload_file(v1, "/m.bin", mode="update", parent_rev=r1.metadata.rev)
    assert (await client.meta("/m.bin")).rev == r2.metadata.rev
    with pytest.raises(BadRequest):
        await client.upload_file(v1, "/m.bin", mode="sideways")


async def test_an_upload_with_a_bad_file_time_is_refused(client):
    data = b"x"
    body = {"path": "/bad-time.txt", "size": 1,
            "blocks": [{"size": 1, "md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}]}  # fmt: skip
    for bad in ("2019-06-01", -1, 10**12, True, float("nan")):
        with pytest.raises(BadRequest) as e:
            await client.call("POST", "/v1/uploads", body={**body, "client_modified": bad}, idempotent=True)
        assert "client_modified" in str(e.value)
    session = await client.call("POST", "/v1/uploads", body={**body, "client_modified": 1_559_390_400}, idempotent=True)
    assert session["needed"]
