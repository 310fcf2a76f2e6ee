"""FlushGroup: one syncfs for a group of files on Linux, an fsync each elsewhere; errors land on their file.

The callers' order (every temp file flushed before any rename; the renames
flushed before the files count as stored) is checked here for both users:
the daemon's batch download and the block server's grouped small-block put.
"""

from __future__ import annotations

import os
import sys

import pytest

from blockserver.stores import local as store_local
from client.transfer.download import batch as transfer_batch_download
from protocol.fs import flush as fs_flush
from protocol.fs.flush import FlushGroup, syncfs_available
from protocol.hashing import hash_block

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="syncfs is Linux's")


def _written(folder, n: int) -> list[int]:
    fds = []
    for i in range(n):
        fd = os.open(folder / f"f{i}", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"x" * (i + 1))
        fds.append(fd)
    return fds


@pytest.fixture
def quiet_disk(monkeypatch):
    """Whatever else the machine has waiting to be written does not keep syncfs out of these tests."""
    monkeypatch.setattr(fs_flush, "SYNCFS_MAX_DIRTY", 1 << 62)


@linux_only
def test_one_syncfs_flushes_a_group(tmp_path, quiet_disk):
    assert syncfs_available()  # Linux 5.8 or later here; else the group fsyncs each file
    with FlushGroup(tmp_path) as group:
        fds = _written(tmp_path, 20)
        try:
            assert group.files(fds) == [None] * 20
            assert group.syncfs_calls == 1
            group.folders([tmp_path])
            assert group.syncfs_calls == 2
        finally:
            for fd in fds:
                os.close(fd)


def test_without_syncfs_each_file_is_fsynced_and_reports_its_own_error(tmp_path):
    with FlushGroup(tmp_path, use_syncfs=False) as group:
        fds = _written(tmp_path, 3)
        os.close(fds[1])  # this one cannot be flushed
        try:
            errors = group.files(fds)
            assert errors[0] is None and errors[2] is None
            assert isinstance(errors[1], OSError)
            assert group.syncfs_calls == 0
            group.folders([tmp_path])
        finally:
            os.close(fds[0])
            os.close(fds[2])


@linux_only
def test_a_failed_syncfs_falls_back_to_an_fsync_per_file(tmp_path, monkeypatch, quiet_disk):
    calls = []

    def failing_syncfs(fd: int) -> int:
        calls.append(fd)
        return -1

    monkeypatch.setattr(fs_flush, "_syncfs", failing_syncfs)
    with FlushGroup(tmp_path) as group:
        fds = _written(tmp_path, 3)
        os.close(fds[2])
        try:
            errors = group.files(fds)
        finally:
            os.close(fds[0])
            os.close(fds[1])
    assert len(calls) == 1
    assert errors[:2] == [None, None] and isinstance(errors[2], OSError)


def test_an_anchor_that_cannot_be_opened_means_fsync_per_file(tmp_path):
    with FlushGroup(tmp_path / "gone") as group:
        fds = _written(tmp_path, 2)
        try:
            assert group.files(fds) == [None, None]
        finally:
            for fd in fds:
                os.close(fd)
        assert group.syncfs_calls == 0


class _Order:
    """Records flushes and renames (or the naming of an unnamed file), in order, around the real calls."""

    def __init__(self, monkeypatch, module) -> None:
        self.events: list[str] = []
        real_files, real_folders, real_replace = FlushGroup.files, FlushGroup.folders, os.replace

        def files(group, fds):
            self.events.append(f"flush {len(fds)} files")
            return real_files(group, fds)

        def folders(group, folders):
            folders = list(folders)
            self.events.append("flush folders")
            return real_folders(group, folders)

        def replace(src, dst, **kw):
            self.events.append("rename")
            return real_replace(src, dst, **kw)

        monkeypatch.setattr(FlushGroup, "files", files)
        monkeypatch.setattr(FlushGroup, "folders", folders)
        monkeypatch.setattr(module.os, "replace", replace)
        if hasattr(module, "name_unnamed"):  # the block server names unnamed (O_TMPFILE) files
            real_name = module.name_unnamed

            def name(fd, path):
                self.events.append("rename")
                return real_name(fd, path)

            monkeypatch.setattr(module, "name_unnamed", name)


def test_block_server_group_flushes_before_it_renames(tmp_path, monkeypatch):
    order = _Order(monkeypatch, store_local)
    root = tmp_path / "blocks"
    store_local._make_shards(root)
    blocks = []
    for i in range(5):
        data = os.urandom(100 + i)
        block_id = f"{i:02x}" + "ab" * 15
        blocks.append((root / block_id[:2] / block_id, data, hash_block(data)))
    assert store_local._put_group(root, blocks) == [None] * 5
    assert order.events == ["flush 5 files"] + ["rename"] * 5 + ["flush folders"]
    for final, data, _ in blocks:
        assert final.read_bytes() == data


def test_batch_download_flushes_before_it_renames(tmp_path, monkeypatch):
    order = _Order(monkeypatch, transfer_batch_download)
    results = []
    for i in range(4):
        folder = tmp_path / f"d{i % 2}"
        folder.mkdir(exist_ok=True)
        f = transfer_batch_download.BatchDownload(f"/d{i % 2}/f{i}", 1, folder / f"f{i}")
        r = transfer_batch_download.BatchDownloadResult(f)
        data = os.urandom(50 + i)
        r.page = _page(data)
        r.data = [data]
        results.append((r, data))
    transfer_batch_download._write_all([r for r, _ in results], None)
    assert order.events == ["flush 4 files"] + ["rename"] * 4 + ["flush folders"]
    for r, data in results:
        assert r.error is None and r.file.local_path.read_bytes() == data


def _page(data: bytes):
    from protocol.messages.blocks import BlockPage, RemoteBlock

    h = hash_block(data)
    block = RemoteBlock(index=0, size=len(data), md5=h.md5, sha256=h.sha256, block_id="00" * 16, grant="g")
    return BlockPage(
        path="/x", rev=1, size=len(data), content_hash="", start=0, total=1, blocks=[block], block_servers=[]
    )


@linux_only
def test_much_dirty_data_elsewhere_means_fsync_per_file(tmp_path, monkeypatch):
    monkeypatch.setattr(fs_flush, "SYNCFS_MAX_DIRTY", -1)  # whatever is dirty now is too much
    with FlushGroup(tmp_path) as group:
        fds = _written(tmp_path, 3)
        try:
            assert group.files(fds) == [None] * 3
            group.folders([tmp_path])
        finally:
            for fd in fds:
                os.close(fd)
        assert group.syncfs_calls == 0
