"""Batch uploads of small files: three requests for up to 1,000 files, one error per bad file."""

from __future__ import annotations

import asyncio
import os
import random

from client import TesseraClient
from client.api.errors import FileChanged
from client.transfer.filehash import hash_file
from client.transfer.upload.batch import BatchFile, upload_batch
from protocol.errors import Conflict
from tests.client.conftest import FAST_RETRY, PASSWORD, USER


def _write_files(root, count: int, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        p = root / f"d{i % 10}" / f"f{i:04d}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        # some files share their content, some are empty
        size = 0 if i % 97 == 0 else rng.randrange(1, 4096)
        data = b"same content" if i % 50 == 1 else rng.randbytes(size)
        p.write_bytes(data)
        out.append(p)
    return out


async def test_a_thousand_small_files_take_three_requests(counted, tmp_path):
    servers = counted.servers
    await servers.add_user(USER, PASSWORD)
    token = await servers.login(USER, PASSWORD)
    local = await asyncio.to_thread(_write_files, tmp_path, 1000, 5)
    files = [BatchFile(p, "/batch/" + p.relative_to(tmp_path).as_posix(), mode="add") for p in local]
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        counted.reset()
        results = await upload_batch(client, files)
        assert [r.error for r in results] == [None] * 1000
        assert dict(counted.meta) == {"POST /v1/uploads/batch": 1, "POST /v1/uploads/commit_batch": 1}
        assert dict(counted.block) == {"POST /v1/blocks/batch": 1}
        distinct = len({hash_file(p).content_hash for p in local} - {hash_file(local[0]).content_hash})
        assert sum(r.blocks_sent for r in results) >= distinct

        for r, p in zip(results[::97], local[::97], strict=True):
            assert r.metadata is not None and r.metadata.path == r.file.remote_path
            assert r.metadata.content_hash == hash_file(p).content_hash
            got = tmp_path / "got"
            await client.download_file(r.file.remote_path, got)
            assert got.read_bytes() == p.read_bytes()

        # the same files again: nothing to send, so no block request at all
        counted.reset()
        again = await upload_batch(client, [BatchFile(f.local_path, f.remote_path) for f in files[:100]])
        assert all(r.error is None and r.blocks_sent == 0 for r in again)
        assert dict(counted.block) == {}


async def test_one_bad_file_fails_alone(counted, tmp_path):
    servers = counted.servers
    await servers.add_user(USER, PASSWORD)
    token = await servers.login(USER, PASSWORD)
    for name in ("a", "b", "c", "d"):
        (tmp_path / name).write_bytes(name.encode() * 100)
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        await client.upload_file(tmp_path / "b", "/b")  # mode add onto other content: conflict
        results = await upload_batch(
            client,
            [
                BatchFile(tmp_path / "a", "/a", mode="add"),
                BatchFile(tmp_path / "a", "/b", mode="add"),
                BatchFile(tmp_path / "missing", "/m", mode="add"),
                BatchFile(tmp_path / "c", "/c", mode="update", parent_rev=12345),
                BatchFile(tmp_path / "d", "/d"),
            ],
        )
        assert results[0].error is None and results[0].metadata.path == "/a"
        assert isinstance(results[1].error, Conflict)
        assert isinstance(results[2].error, FileNotFoundError)
        assert isinstance(results[3].error, Conflict)
        assert results[4].error is None
        names = sorted([e.name async for e in client.list_entries("/")])
        assert names == ["a", "b", "d"]


async def test_a_file_changed_before_the_commit_is_not_committed(counted, tmp_path, monkeypatch):
    import client.transfer.upload.batch as tb

    servers = counted.servers
    await servers.add_user(USER, PASSWORD)
    token = await servers.login(USER, PASSWORD)
    (tmp_path / "x").write_bytes(b"x" * 1000)
    (tmp_path / "y").write_bytes(b"y" * 1000)
    real = tb._check_unchanged

    def edit_then_check(items):
        (tmp_path / "y").write_bytes(b"edited meanwhile")
        real(items)

    monkeypatch.setattr(tb, "_check_unchanged", edit_then_check)
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        results = await upload_batch(
            client, [BatchFile(tmp_path / "x", "/x"), BatchFile(tmp_path / "y", "/y")]
        )
        assert results[0].error is None
        assert isinstance(results[1].error, FileChanged)
        assert [e.name async for e in client.list_entries("/")] == ["x"]


async def test_bytes_kept_from_hashing_are_sent_without_reading_the_files_again(counted, tmp_path, monkeypatch):
    """Each file is opened once while its bytes fit in KEPT_BYTES; past it, files are read again."""
    import client.transfer.upload.batch as tb

    servers = counted.servers
    await servers.add_user(USER, PASSWORD)
    token = await servers.login(USER, PASSWORD)
    names = ["a", "b", "c", "d"]
    for i, name in enumerate(names):
        (tmp_path / name).write_bytes(bytes([i]) * 1000)
    monkeypatch.setattr(tb, "KEPT_BYTES", 2500)  # a and b kept, c and d read again
    opened: list[str] = []
    real = tb._open_regular

    def counting(path):
        opened.append(path.name)
        return real(path)

    monkeypatch.setattr(tb, "_open_regular", counting)
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        results = await upload_batch(client, [BatchFile(tmp_path / n, f"/{n}") for n in names])
        assert [r.error for r in results] == [None] * 4
        assert sorted(opened) == ["a", "b", "c", "c", "d", "d"]
        for n in names:
            got = tmp_path / f"got-{n}"
            await client.download_file(f"/{n}", got)
            assert got.read_bytes() == (tmp_path / n).read_bytes()


async def test_a_read_error_while_hashing_fails_that_file_alone(counted, tmp_path, monkeypatch):
    """The batch reads files through protocol.chunker; its failing twin stands in for a bad disk."""
    import client.transfer.upload.batch as tb
    from protocol.chunker import FailingChunker, iter_blocks

    servers = counted.servers
    await servers.add_user(USER, PASSWORD)
    token = await servers.login(USER, PASSWORD)
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(name.encode() * 1000)

    b_inode = (tmp_path / "b").stat().st_ino

    def failing_for_b(f):
        return FailingChunker(0)(f) if os.fstat(f.fileno()).st_ino == b_inode else iter_blocks(f)

    monkeypatch.setattr(tb, "iter_blocks", failing_for_b)
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        results = await upload_batch(client, [BatchFile(tmp_path / n, f"/{n}") for n in ("a", "b", "c")])
        assert results[0].error is None and results[2].error is None
        assert isinstance(results[1].error, OSError)
        assert sorted([e.name async for e in client.list_entries("/")]) == ["a", "c"]
