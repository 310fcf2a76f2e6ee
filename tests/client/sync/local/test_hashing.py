"""The sync daemon's hashing of one file: block records, reuse by xxh3, parallel full hashes."""

from __future__ import annotations

import os
import threading

import pytest

from client.sync.local import hashing as sync_hashing
from client.sync.local.hashing import FileUnstable, ScanStats, hash_local_file
from protocol.hashing import BLOCK_SIZE, content_hash, hash_block


def blocks_of(data: bytes) -> list[bytes]:
    return [data[i : i + BLOCK_SIZE] for i in range(0, len(data), BLOCK_SIZE)] or []


def check(hashed, data: bytes) -> None:
    """Every record is the block's true hashes, in order."""
    parts = blocks_of(data)
    assert hashed.size == len(data)
    assert [b.idx for b in hashed.blocks] == list(range(len(parts)))
    for record, part in zip(hashed.blocks, parts, strict=True):
        truth = hash_block(part)
        assert (record.size, record.md5, record.sha256) == (truth.size, truth.md5, truth.sha256)
    assert hashed.content_hash == content_hash(hash_block(p).sha256 for p in parts)


@pytest.mark.parametrize(
    "size",
    [0, 100, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE, 7 * BLOCK_SIZE - 5],
    ids=["empty", "small", "one-block", "one-block+1", "three-blocks", "seven-blocks-short"],
)
def test_records_are_each_blocks_hashes_in_order(tmp_path, size):
    data = os.urandom(size)
    f = tmp_path / "f"
    f.write_bytes(data)
    stats = ScanStats()
    hashed = hash_local_file(f, {}, stats)
    check(hashed, data)
    assert stats.blocks_hashed == len(blocks_of(data)) and stats.blocks_reused == 0
    assert stats.bytes_read == size and stats.files_hashed == 1


def test_full_hashes_of_a_large_file_run_in_worker_threads(tmp_path, monkeypatch):
    data = os.urandom(5 * BLOCK_SIZE)
    f = tmp_path / "f"
    f.write_bytes(data)
    threads = set()
    real = sync_hashing._sha_md5

    def spy(view):
        threads.add(threading.current_thread().name)
        return real(view)

    monkeypatch.setattr(sync_hashing, "_sha_md5", spy)
    check(hash_local_file(f, {}), data)
    assert threads and all(name.startswith("tessera-hash") for name in threads)


def test_only_blocks_whose_xxh3_changed_are_hashed_again(tmp_path):
    data = bytearray(os.urandom(6 * BLOCK_SIZE + 10))
    f = tmp_path / "f"
    f.write_bytes(data)
    first = hash_local_file(f, {})
    data[3 * BLOCK_SIZE + 5 : 3 * BLOCK_SIZE + 9] = b"edit"
    f.write_bytes(data)
    stats = ScanStats()
    again = hash_local_file(f, {b.idx: b for b in first.blocks}, stats)
    check(again, bytes(data))
    assert (stats.blocks_hashed, stats.blocks_reused) == (1, 6)
    assert [a == b for a, b in zip(first.blocks, again.blocks, strict=True)] == [
        True,
        True,
        True,
        False,
        True,
        True,
        True,
    ]


def test_a_file_growing_while_hashed_is_unstable(tmp_path, monkeypatch):
    f = tmp_path / "f"
    f.write_bytes(os.urandom(3 * BLOCK_SIZE))
    real = sync_hashing._read_block
    calls = 0

    def read_and_append(fh, view):
        nonlocal calls
        calls += 1
        n = real(fh, view)
        if calls == 2:
            with open(f, "ab") as g:
                g.write(b"more")
        return n

    monkeypatch.setattr(sync_hashing, "_read_block", read_and_append)
    with pytest.raises(FileUnstable):
        hash_local_file(f, {})


def test_a_file_written_while_hashed_is_given_up_on_at_once(tmp_path, monkeypatch):
    f = tmp_path / "f"
    f.write_bytes(os.urandom(8 * BLOCK_SIZE))
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))  # so that a write moves the mtime
    real = sync_hashing._read_block
    calls = 0

    def read_while_written(fh, view):
        nonlocal calls
        calls += 1
        n = real(fh, view)
        if calls == 2:
            with open(f, "r+b") as g:  # rewritten in place: same size
                g.write(b"new")
        return n

    monkeypatch.setattr(sync_hashing, "_read_block", read_while_written)
    with pytest.raises(FileUnstable):
        hash_local_file(f, {})
    assert calls == 2  # not read on to its end


def test_a_symlink_is_refused_not_followed(tmp_path):
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        hash_local_file(tmp_path / "link", {})


def test_a_small_file_is_hashed_without_block_sized_buffers(tmp_path):
    """Thousands of small files are scanned at once: each costs a buffer of its size, not 4 MiB ones."""
    import tracemalloc

    path = tmp_path / "small.bin"
    path.write_bytes(b"x" * 4096)
    tracemalloc.start()
    try:
        hashed = hash_local_file(path, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hashed.size == 4096
    assert peak < 256 * 1024
