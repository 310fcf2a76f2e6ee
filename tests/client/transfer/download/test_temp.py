"""The download temp file (client/transfer/download/temp.py): blocks verified by SHA-256 before they count."""

from __future__ import annotations

import hashlib
import os

import pytest
import xxhash

from client.transfer.download.temp import TEMP_PREFIX, LocalBlock, TempFile
from client.transfer.filehash import FileStamp
from protocol.hashing import BLOCK_SIZE
from protocol.messages.blocks import RemoteBlock


def remote_block(index: int, data: bytes) -> RemoteBlock:
    return RemoteBlock(
        index=index,
        block_id="0" * 32,
        size=len(data),
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        grant="g",
    )


def temp_files(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_pieces_are_verified_then_written_and_indexed(tmp_path):
    a, b = os.urandom(BLOCK_SIZE), os.urandom(1000)
    seen = {}
    part = TempFile(tmp_path / "f", 2 * BLOCK_SIZE, on_block=lambda blk, x: seen.__setitem__(blk.index, x))
    # a block in uneven pieces, as the network delivers it
    pieces = [a[:5], a[5:300_000], memoryview(a)[300_000:]]
    assert part.write_verified(remote_block(0, a), pieces) == ""
    wrong = bytearray(b)
    wrong[0] ^= 1
    problem = part.write_verified(remote_block(1, b), [bytes(wrong)])
    assert "SHA-256" in problem
    assert 1 not in seen
    assert "size" in part.write_verified(remote_block(1, b), [b[:-1]])
    assert part.write_verified(remote_block(1, b), [b]) == ""
    part.commit()
    assert (tmp_path / "f").read_bytes()[: BLOCK_SIZE + 1000] == a + b
    assert seen == {0: xxhash.xxh3_64_hexdigest(a), 1: xxhash.xxh3_64_hexdigest(b)}
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("in_kernel", [True, False], ids=["copy_file_range", "read-write"])
def test_local_copies_are_verified_after_copying(tmp_path, in_kernel):
    a, b = os.urandom(BLOCK_SIZE), os.urandom(BLOCK_SIZE)
    src = tmp_path / "old"
    src.write_bytes(b + a)
    part = TempFile(tmp_path / "f", 2 * BLOCK_SIZE + 10)
    part._copy_range = in_kernel and hasattr(os, "copy_file_range")
    assert part.copy_verified(remote_block(0, a), LocalBlock(src, BLOCK_SIZE)) == ""
    assert part.copy_verified(remote_block(1, b), LocalBlock(src, 0)) == ""
    # the source does not hold what it was said to: refused, whatever landed in the temp file
    assert "SHA-256" in part.copy_verified(remote_block(0, a), LocalBlock(src, 0))
    # the source ends before the block does
    assert part.copy_verified(remote_block(2, b"x" * 10), LocalBlock(src, 2 * BLOCK_SIZE - 5)) != ""
    assert part.copy_verified(remote_block(0, a), LocalBlock(src, BLOCK_SIZE)) == ""
    part.commit()
    assert (tmp_path / "f").read_bytes()[: 2 * BLOCK_SIZE] == a + b


@pytest.mark.parametrize("in_kernel", [True, False], ids=["copy_file_range", "read-write"])
def test_a_local_copy_with_its_indexed_xxh3_is_checked_by_that_xxh3(tmp_path, in_kernel):
    a, b = os.urandom(BLOCK_SIZE), os.urandom(BLOCK_SIZE)
    src = tmp_path / "old"
    src.write_bytes(b + a)
    seen: dict[int, str] = {}
    part = TempFile(tmp_path / "f", 2 * BLOCK_SIZE, lambda block, xxh: seen.__setitem__(block.index, xxh))
    part._copy_range = in_kernel and hasattr(os, "copy_file_range")
    xxh_a, xxh_b = xxhash.xxh3_64_hexdigest(a), xxhash.xxh3_64_hexdigest(b)
    assert part.copy_verified(remote_block(0, a), LocalBlock(src, BLOCK_SIZE, xxh_a)) == ""
    # the file changed since it was indexed: the bytes there no longer have the xxh3
    assert "xxh3" in part.copy_verified(remote_block(1, b), LocalBlock(src, BLOCK_SIZE, xxh_b))
    assert 1 not in seen
    assert part.copy_verified(remote_block(1, b), LocalBlock(src, 0, xxh_b)) == ""
    part.commit()
    assert (tmp_path / "f").read_bytes() == a + b
    assert seen == {0: xxh_a, 1: xxh_b}


def _aged(path, seconds=60):
    """Set the file's mtime well in the past, so that a write now gives it another one."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))
    return FileStamp.of(path.stat())


def _indexed_block(tmp_path):
    """Two blocks' bytes a and b, a file ``old`` holding a (aged), its stamp and a's xxh3."""
    a, b = os.urandom(BLOCK_SIZE), os.urandom(BLOCK_SIZE)
    src = tmp_path / "old"
    src.write_bytes(a)
    return a, b, src, _aged(src), xxhash.xxh3_64_hexdigest(a)


def test_a_copy_from_a_file_that_keeps_its_indexed_stamp_is_not_read_back(tmp_path):
    a, b, src, stamp, xxh_a = _indexed_block(tmp_path)
    # the bytes change but the stat is made to look the same (size, mtime and inode kept): the
    # scan itself would keep the old hashes of such a file, and so does the copy (no read-back)
    with open(src, "r+b") as f:
        f.write(b)
    os.utime(src, ns=(stamp.mtime_ns, stamp.mtime_ns))
    assert FileStamp.of(src.stat()) == stamp
    seen: dict[int, str] = {}
    part = TempFile(tmp_path / "f", BLOCK_SIZE, lambda block, xxh: seen.__setitem__(block.index, xxh))
    try:
        if not part._copy_range:
            pytest.skip("no copy_file_range here: every copy is hashed as it is made")
        assert part.copy_verified(remote_block(0, a), LocalBlock(src, 0, xxh_a, stamp)) == ""
        assert seen == {0: xxh_a}
        # without the stamp, the same copy is read back and refused
        seen.clear()
        assert "xxh3" in part.copy_verified(remote_block(0, a), LocalBlock(src, 0, xxh_a))
        assert seen == {}
    finally:
        part.discard()


@pytest.mark.parametrize("in_kernel", [True, False], ids=["copy_file_range", "read-write"])
def test_a_file_changed_since_its_stamp_is_checked_by_its_bytes(tmp_path, in_kernel):
    a, b, src, stamp, xxh_a = _indexed_block(tmp_path)
    part = TempFile(tmp_path / "f", BLOCK_SIZE)
    part._copy_range = in_kernel and hasattr(os, "copy_file_range")
    try:
        assert part.copy_verified(remote_block(0, a), LocalBlock(src, 0, xxh_a, stamp)) == ""
        with open(src, "r+b") as f:  # written after the index was made: the mtime moves on
            f.write(b)
        assert FileStamp.of(src.stat()) != stamp
        assert "xxh3" in part.copy_verified(remote_block(0, a), LocalBlock(src, 0, xxh_a, stamp))
        src.write_bytes(a)  # the right bytes again, under another stamp: found good by the read-back
        assert part.copy_verified(remote_block(0, a), LocalBlock(src, 0, xxh_a, stamp)) == ""
    finally:
        part.discard()
    # a file that ends before the block does, under its own stamp: the copy comes up short, is
    # read back, and refused
    short = tmp_path / "short"
    short.write_bytes(a[:1000])
    short_stamp = _aged(short)
    fresh = TempFile(tmp_path / "g", BLOCK_SIZE)
    fresh._copy_range = part._copy_range
    try:
        assert fresh.copy_verified(remote_block(0, a), LocalBlock(short, 0, xxh_a, short_stamp)) != ""
    finally:
        fresh.discard()


def test_a_file_written_during_the_copy_is_caught(tmp_path, monkeypatch):
    a, b, src, stamp, xxh_a = _indexed_block(tmp_path)
    part = TempFile(tmp_path / "f", BLOCK_SIZE)
    if not part._copy_range:
        part.discard()
        pytest.skip("no copy_file_range here: every copy is hashed as it is made")
    real = os.copy_file_range
    calls = []

    def copy_then_someone_writes(src_fd, dst_fd, count, offset_src, offset_dst):
        # the kernel copies the first half; meanwhile another process rewrites the rest
        n = real(src_fd, dst_fd, min(count, BLOCK_SIZE // 2), offset_src, offset_dst)
        if not calls:
            with open(src, "r+b") as f:
                f.seek(BLOCK_SIZE // 2)
                f.write(b[BLOCK_SIZE // 2 :])
        calls.append(n)
        return n

    monkeypatch.setattr(os, "copy_file_range", copy_then_someone_writes)
    try:
        assert "xxh3" in part.copy_verified(remote_block(0, a), LocalBlock(src, 0, xxh_a, stamp))
        assert len(calls) == 2
    finally:
        part.discard()


def test_a_local_copy_must_be_a_regular_file_and_no_symlink(tmp_path):
    a = os.urandom(1000)
    real = tmp_path / "real"
    real.write_bytes(a)
    (tmp_path / "link").symlink_to(real)
    part = TempFile(tmp_path / "f", 1000)
    try:
        with pytest.raises(OSError):
            part.copy_verified(remote_block(0, a), LocalBlock(tmp_path / "link", 0))
        assert part.copy_verified(remote_block(0, a), LocalBlock(tmp_path, 0)) != ""
    finally:
        part.discard()
    assert temp_files(tmp_path) == []


def test_discard_leaves_the_target_alone(tmp_path):
    target = tmp_path / "t"
    target.write_bytes(b"old")
    part = TempFile(target, 10)
    assert part.write_verified(remote_block(0, b"0123456789"), [b"0123456789"]) == ""
    part.discard()
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []
