"""Whole blocks of a download go to disk past the page cache (client/transfer/download/direct_writes.py), else buffered."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from client.transfer.download import direct_writes
from client.transfer.download.direct_writes import ALIGN, MIN_DIRECT, DirectWriter
from client.transfer.download.temp import TempFile
from protocol.hashing import BLOCK_SIZE
from protocol.messages.blocks import RemoteBlock


def remote_block(index: int, data: bytes) -> RemoteBlock:
    return RemoteBlock(index=index, block_id="0" * 32, size=len(data), md5=hashlib.md5(data).hexdigest(),
                       sha256=hashlib.sha256(data).hexdigest(), grant="g")  # fmt: skip


def needs_o_direct(path) -> None:
    probe = path / "probe"
    probe.write_bytes(b"")
    writer = DirectWriter.open(probe)
    if writer is None:
        pytest.skip(f"no O_DIRECT on the file system of {path}")
    writer.close()
    probe.unlink()


def test_whole_blocks_go_direct_and_the_file_is_exact(tmp_path):
    needs_o_direct(tmp_path)
    # a full block, a last block over MIN_DIRECT whose tail is not aligned, in uneven pieces
    a, b = os.urandom(BLOCK_SIZE), os.urandom(MIN_DIRECT + ALIGN + 777)
    part = TempFile(tmp_path / "f", len(a) + len(b))
    assert part.write_verified(remote_block(1, b), [b[:1], memoryview(b)[1:5000], b[5000:]]) == ""
    assert part.write_hashed(remote_block(0, a), a, hashlib.sha256(a).hexdigest()) == ""
    assert part.direct_blocks == 2
    part.commit()
    assert (tmp_path / "f").read_bytes() == a + b
    # pieces that straddle the 1 MiB chunks of the direct writes
    part = TempFile(tmp_path / "g", len(a))
    pieces = [a[i : i + 700_001] for i in range(0, len(a), 700_001)]
    assert part.write_verified(remote_block(0, a), pieces) == ""
    assert part.direct_blocks == 1
    part.commit()
    assert (tmp_path / "g").read_bytes() == a


def test_small_blocks_and_small_files_stay_buffered(tmp_path):
    needs_o_direct(tmp_path)
    small = os.urandom(MIN_DIRECT - 1)
    part = TempFile(tmp_path / "small", len(small))
    assert part.write_verified(remote_block(0, small), [small]) == ""
    assert part.direct_blocks == 0
    part.commit()
    a, tail = os.urandom(BLOCK_SIZE), os.urandom(100)
    part = TempFile(tmp_path / "f", len(a) + len(tail))
    assert part.write_verified(remote_block(1, tail), [tail]) == ""
    assert part.write_verified(remote_block(0, a), [a]) == ""
    assert part.direct_blocks == 1
    part.commit()
    assert (tmp_path / "small").read_bytes() == small
    assert (tmp_path / "f").read_bytes() == a + tail


def test_a_refused_direct_write_falls_back_to_the_page_cache(tmp_path, monkeypatch):
    needs_o_direct(tmp_path)
    a, b = os.urandom(BLOCK_SIZE), os.urandom(BLOCK_SIZE)
    part = TempFile(tmp_path / "f", 2 * BLOCK_SIZE)
    real_pwrite = os.pwrite

    def refuse(fd, data, offset):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(direct_writes.os, "pwrite", refuse)
    assert part.write_verified(remote_block(0, a), [a]) == ""
    monkeypatch.setattr(direct_writes.os, "pwrite", real_pwrite)
    assert part.write_verified(remote_block(1, b), [b]) == ""  # not tried again for this file
    assert part.direct_blocks == 0
    part.commit()
    assert (tmp_path / "f").read_bytes() == a + b


def test_other_write_errors_are_not_hidden(tmp_path, monkeypatch):
    needs_o_direct(tmp_path)
    a = os.urandom(BLOCK_SIZE)
    part = TempFile(tmp_path / "f", BLOCK_SIZE)

    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(direct_writes.os, "pwrite", full)
    with pytest.raises(OSError) as e:
        part.write_verified(remote_block(0, a), [a])
    assert e.value.errno == errno.ENOSPC
    part.discard()
    assert list(tmp_path.iterdir()) == []


def test_without_o_direct_everything_is_buffered(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "O_DIRECT", raising=False)
    a = os.urandom(BLOCK_SIZE)
    part = TempFile(tmp_path / "f", BLOCK_SIZE)
    assert part.write_verified(remote_block(0, a), [a]) == ""
    assert part.direct_blocks == 0
    part.commit()
    assert (tmp_path / "f").read_bytes() == a


def test_a_short_unaligned_direct_write_rewrites_the_block_buffered(tmp_path, monkeypatch):
    needs_o_direct(tmp_path)
    a, b = os.urandom(BLOCK_SIZE), os.urandom(BLOCK_SIZE)
    part = TempFile(tmp_path / "f", 2 * BLOCK_SIZE)
    monkeypatch.setattr(direct_writes.os, "pwrite", lambda fd, data, offset: 1000)  # wrote "1000 bytes"
    assert part.write_verified(remote_block(0, a), [a]) == ""
    monkeypatch.undo()
    assert part.write_verified(remote_block(1, b), [b]) == ""  # direct again: nothing was refused
    assert part.direct_blocks == 1
    part.commit()
    assert (tmp_path / "f").read_bytes() == a + b
