"""Batch downloads of small files: two requests for many files, each verified, each atomic."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from client import TesseraClient
from client.transfer.download.batch import BatchDownload, download_batch
from client.transfer.download.file import TEMP_PREFIX, LocalBlock
from client.transfer.upload.batch import BatchFile, upload_batch
from protocol.errors import HashMismatch
from tests.client.conftest import FAST_RETRY, PASSWORD, USER


async def _uploaded(client, root, count: int) -> list:
    local = []
    for i in range(count):
        p = root / "src" / f"d{i % 3}" / f"f{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"" if i == 0 else os.urandom(100 + i) if i % 5 else b"shared content")
        local.append(p)
    results = await upload_batch(client, [BatchFile(p, "/" + p.relative_to(root).as_posix()) for p in local])
    assert all(r.error is None for r in results)
    return [r.metadata for r in results]


def _temp_files(root) -> list:
    return [p for p in root.rglob(f"{TEMP_PREFIX}*")]


async def test_many_small_files_take_two_requests(counted, tmp_path):
    await counted.servers.add_user(USER, PASSWORD)
    token = await counted.servers.login(USER, PASSWORD)
    async with TesseraClient(counted.servers.meta_url, token, retry=FAST_RETRY) as client:
        metas = await _uploaded(client, tmp_path, 60)
        out = tmp_path / "out"
        out.mkdir()
        (out / "f1.bin").write_bytes(b"to be replaced")
        files = [BatchDownload(m.path, m.rev, out / f"f{i}.bin") for i, m in enumerate(metas)]
        counted.reset()
        results = await download_batch(client, files)
        assert [r.error for r in results] == [None] * 60
        assert dict(counted.meta) == {"POST /v1/files/blocks_batch": 1}
        assert dict(counted.block) == {"POST /v1/blocks/get_batch": 1}
        # each file has the time it had where it was uploaded, as its stat recorded for the caller
        for m, f, r in zip(metas, files, results, strict=True):
            src = tmp_path / "src" / m.path.lstrip("/").split("/", 1)[1]
            assert m.client_modified is not None and abs(m.client_modified * 1e9 - src.stat().st_mtime_ns) < 2_000
            assert abs(f.local_path.stat().st_mtime_ns - src.stat().st_mtime_ns) < 2_000
            assert r.stat is not None and r.stat.st_mtime_ns == f.local_path.stat().st_mtime_ns
        for i, (m, r) in enumerate(zip(metas, results, strict=True)):
            src = tmp_path / "src" / m.path.lstrip("/").split("/", 1)[1]
            assert (out / f"f{i}.bin").read_bytes() == src.read_bytes()
            assert r.page is not None and r.page.content_hash == m.content_hash
            assert r.stat is not None and r.stat.st_ino == os.stat(out / f"f{i}.bin").st_ino
        assert _temp_files(out) == []


async def test_a_corrupt_block_fails_its_file_alone(counted, tmp_path):
    await counted.servers.add_user(USER, PASSWORD)
    token = await counted.servers.login(USER, PASSWORD)
    async with TesseraClient(counted.servers.meta_url, token, retry=FAST_RETRY) as client:
        metas = await _uploaded(client, tmp_path, 4)
        page = (await client.file_blocks_batch([(metas[2].path, metas[2].rev)]))[0]
        stored = counted.servers.config.blocks_dir / page.blocks[0].block_id[:2] / page.blocks[0].block_id
        data = bytearray(stored.read_bytes())
        data[10] ^= 0xFF  # corrupted at rest: same size, other content
        stored.write_bytes(bytes(data))
        out = tmp_path / "out"
        out.mkdir()
        (out / "f2.bin").write_bytes(b"keep me")
        files = [BatchDownload(m.path, m.rev, out / f"f{i}.bin") for i, m in enumerate(metas)]
        results = await download_batch(client, files)
        assert isinstance(results[2].error, HashMismatch)
        assert (out / "f2.bin").read_bytes() == b"keep me"  # the target is untouched
        assert [r.error for i, r in enumerate(results) if i != 2] == [None] * 3
        assert _temp_files(out) == []


async def test_local_blocks_checks_and_no_replace(counted, tmp_path):
    await counted.servers.add_user(USER, PASSWORD)
    token = await counted.servers.login(USER, PASSWORD)
    async with TesseraClient(counted.servers.meta_url, token, retry=FAST_RETRY) as client:
        metas = await _uploaded(client, tmp_path, 6)
        out = tmp_path / "out"
        out.mkdir()
        (out / "f3.bin").write_bytes(b"already here")

        def refuse(target):
            raise FileExistsError(f"{target} changed")

        offered = []
        stale = tmp_path / "stale.bin"
        stale.write_bytes(b"stale bytes" * 100)

        def local_blocks(block):
            offered.append(block.index)
            return LocalBlock(stale, 0)  # fails verification: downloaded instead

        files = [
            BatchDownload(
                m.path, m.rev, out / f"f{i}.bin", check_target=refuse if i == 4 else None, replace=False
            )
            for i, m in enumerate(metas)
        ]
        results = await download_batch(client, files, local_blocks=local_blocks)
        assert isinstance(results[3].error, FileExistsError)  # replace=False: never over an existing file
        assert (out / "f3.bin").read_bytes() == b"already here"
        assert isinstance(results[4].error, FileExistsError) and not (out / "f4.bin").exists()
        assert [results[i].error for i in (0, 1, 2, 5)] == [None] * 4
        assert all(r.blocks_copied == 0 for r in results) and offered
        assert _temp_files(out) == []


async def test_limits_and_fallback(counted, tmp_path, monkeypatch):
    from client.transfer.download import batch as transfer_batch_download

    await counted.servers.add_user(USER, PASSWORD)
    token = await counted.servers.login(USER, PASSWORD)
    async with TesseraClient(counted.servers.meta_url, token, retry=FAST_RETRY) as client:
        metas = await _uploaded(client, tmp_path, 3)
        monkeypatch.setattr(transfer_batch_download, "BATCH_FILE_MAX", 101)
        out = tmp_path / "out"
        out.mkdir()
        results = await download_batch(
            client, [BatchDownload(m.path, m.rev, out / f"f{i}") for i, m in enumerate(metas)]
        )
        assert [r.fallback for r in results] == [False, False, True]  # 0 and 101 bytes; 102 bytes is too big
        with pytest.raises(Exception, match="1 to 1000"):
            await download_batch(client, [])
        await asyncio.sleep(0)


async def test_blocks_held_locally_are_copied_not_fetched(counted, tmp_path):
    await counted.servers.add_user(USER, PASSWORD)
    token = await counted.servers.login(USER, PASSWORD)
    async with TesseraClient(counted.servers.meta_url, token, retry=FAST_RETRY) as client:
        metas = await _uploaded(client, tmp_path, 4)
        sources = {m.path: tmp_path / "src" / m.path.lstrip("/").split("/", 1)[1] for m in metas}
        out = tmp_path / "out"
        out.mkdir()
        files = [BatchDownload(m.path, m.rev, out / f"f{i}.bin") for i, m in enumerate(metas)]
        by_sha = {}
        for m in metas[1:]:
            data = sources[m.path].read_bytes()
            by_sha[hashlib.sha256(data).hexdigest()] = sources[m.path]
        counted.reset()
        results = await download_batch(
            client,
            files,
            local_blocks=lambda b: LocalBlock(by_sha[b.sha256], 0) if b.sha256 in by_sha else None,
        )
        assert [r.error for r in results] == [None] * 4
        assert sum(r.blocks_copied for r in results) == 3  # the empty file has no block
        assert counted.block["POST /v1/blocks/get_batch"] == 0  # nothing left to fetch
        for i, m in enumerate(metas):
            assert (out / f"f{i}.bin").read_bytes() == sources[m.path].read_bytes()
