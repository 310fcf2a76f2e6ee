"""A download's modification time, and freeing the version it replaces off the caller's path
(client/transfer/download/file_writes.py: set_modified, hold_replaced, release_replaced)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from client.transfer.download import file_writes
from client.transfer.download.file_writes import (
    HOLD_REPLACED_MIN,
    hold_replaced,
    release_replaced,
    set_modified,
)
from client.transfer.download.temp import TempFile
from protocol.messages.blocks import RemoteBlock


def big_file(path, size=HOLD_REPLACED_MIN, fill=b"o"):
    with open(path, "wb") as f:
        f.write(fill * size)  # written, not sparse: it holds its size on disk
    return path


def closed(fd: int, timeout: float = 5.0) -> bool:
    """Whether ``fd`` gets closed (by the releasing thread) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.fstat(fd)
        except OSError:
            return True
        time.sleep(0.01)
    return False


def test_a_big_file_is_held_across_the_rename_and_released_in_the_background(tmp_path):
    target = big_file(tmp_path / "t")
    ino = os.stat(target).st_ino
    fd = hold_replaced(target)
    assert fd is not None and os.fstat(fd).st_ino == ino
    new = tmp_path / "new"
    new.write_bytes(b"new")
    os.replace(new, target)
    assert target.read_bytes() == b"new"
    # the old version lives on, nameless, until released
    assert os.fstat(fd).st_nlink == 0
    assert os.pread(fd, 2, 0) == b"oo"
    release_replaced(fd)
    assert closed(fd)


@pytest.mark.parametrize("kind", ["missing", "small", "sparse", "symlink", "hard-linked", "folder", "fifo"])
def test_only_a_big_regular_file_with_one_name_is_held(tmp_path, kind):
    target = tmp_path / "t"
    if kind == "small":
        target.write_bytes(b"x" * 1000)
    elif kind == "sparse":
        with open(target, "wb") as f:
            f.truncate(4 * HOLD_REPLACED_MIN)  # big, but no blocks to free
    elif kind == "symlink":
        os.symlink(big_file(tmp_path / "real"), target)
    elif kind == "hard-linked":
        os.link(big_file(tmp_path / "real"), target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)  # opening it must not block
    before = set(os.listdir("/proc/self/fd"))
    assert hold_replaced(target) is None
    assert set(os.listdir("/proc/self/fd")) == before  # nothing left open
    release_replaced(None)  # nothing to do


def test_a_download_over_a_big_file_replaces_it_and_releases_the_old_version(tmp_path, monkeypatch):
    held: list[int] = []
    real_release = file_writes.release_replaced

    def watch(fd):
        held.append(fd)
        real_release(fd)

    monkeypatch.setattr("client.transfer.download.temp.release_replaced", watch)
    target = big_file(tmp_path / "f")
    data = os.urandom(1000)
    part = TempFile(target, len(data))
    block = RemoteBlock(0, "0" * 32, len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), "g")
    assert part.write_verified(block, [data]) == ""
    part.commit()
    assert target.read_bytes() == data
    assert len(held) == 1 and held[0] is not None
    assert closed(held[0])


def test_the_modification_time_is_set_unless_it_is_in_the_future_or_unknown(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x")
    fd = os.open(path, os.O_RDWR)
    try:
        written = os.fstat(fd).st_mtime_ns
        set_modified(fd, None)
        assert os.fstat(fd).st_mtime_ns == written
        set_modified(fd, time.time() + 3600)  # the server's clock ahead of ours: not used
        assert os.fstat(fd).st_mtime_ns == written
        committed = time.time() - 86_400.25
        set_modified(fd, committed)
        assert abs(os.fstat(fd).st_mtime_ns - committed * 1e9) < 2_000
    finally:
        os.close(fd)
