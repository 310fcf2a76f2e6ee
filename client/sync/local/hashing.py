"""Hashing one local file into the sync daemon's block records (blocking).

The file is read in 4 MiB blocks, one after the other. Each block gets an
xxh3-64 as it is read; a block whose xxh3 and size match the block index at the
same position reuses the indexed MD5 and SHA-256, and the others have theirs
computed. A file larger than one block has those computed in up to
:data:`HASH_THREADS` worker threads while the next blocks are read (hashlib
releases the GIL), so a new large file is hashed at several cores' speed.
Memory is :data:`HASH_THREADS` + 1 blocks, whatever the file size.

A file that changes while it is hashed (size, mtime or inode differ before and
after, or it is replaced) raises :class:`FileUnstable`; the file's stat is also
looked at after every block read, so a file still being written (the watcher
fired in a pause of the writer) is given up on at once, not after reading it
to its end.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import xxhash

from client.sync.state.database import BlockRecord
from protocol.hashing import BLOCK_SIZE, content_hash

#: blocks of one file whose MD5 and SHA-256 are computed at once
HASH_THREADS = max(1, min(4, os.cpu_count() or 1))


class FileUnstable(Exception):
    """The file changed while it was being hashed."""


@dataclass(slots=True)
class ScanStats:
    files_hashed: int = 0
    blocks_hashed: int = 0  #: blocks that needed MD5 + SHA-256
    blocks_reused: int = 0  #: blocks whose xxh3 matched the index
    bytes_read: int = 0


@dataclass(frozen=True, slots=True)
class HashedFile:
    size: int
    mtime_ns: int
    inode: int
    content_hash: str
    blocks: tuple[BlockRecord, ...]


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _read_block(f: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``f`` (short reads are retried); the byte count, less only at the end."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def _sha_md5(data: memoryview) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


class _Blocks:
    """The file's block records in order; full hashes run in a pool once there is more than one block."""

    def __init__(self, known: Mapping[int, BlockRecord], stats: ScanStats, size: int) -> None:
        self.known = known
        self.stats = stats
        self.records: list[BlockRecord | None] = []
        # buffers are made as needed, no larger than the file (plus one byte, so that a file
        # that grew shows): a small file costs a small buffer, not HASH_THREADS + 1 blocks
        self._buffer_size = min(BLOCK_SIZE, size + 1)
        self._made = 0
        self._free: list[bytearray] = []
        self._running: deque[tuple[int, str, int, Future[tuple[str, str]], bytearray]] = deque()
        self._pool: ThreadPoolExecutor | None = None

    def buffer(self) -> bytearray:
        if not self._free:
            if self._made <= HASH_THREADS:
                self._made += 1
                return bytearray(self._buffer_size)
            self._settle_oldest()
        return self._free.pop()

    def add(self, buf: bytearray, n: int, more: bool) -> None:
        """Record the block just read into ``buf[:n]``; ``more``: the file may have further blocks."""
        index = len(self.records)
        data = memoryview(buf)[:n]
        xxh = xxhash.xxh3_64_hexdigest(data)
        old = self.known.get(index)
        self.records.append(None)
        if old is not None and old.size == n and old.xxh3_64 == xxh:
            self.records[index] = BlockRecord(index, xxh, old.sha256, old.md5, n)
            self.stats.blocks_reused += 1
            self._free.append(buf)
            return
        self.stats.blocks_hashed += 1
        if not more and not self._running:  # a one-block file, or the tail: no hop to a thread
            sha, md5 = _sha_md5(data)
            self.records[index] = BlockRecord(index, xxh, sha, md5, n)
            self._free.append(buf)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="tessera-hash")
        self._running.append((index, xxh, n, self._pool.submit(_sha_md5, data), buf))

    def _settle_oldest(self) -> None:
        index, xxh, n, future, buf = self._running.popleft()
        sha, md5 = future.result()
        self.records[index] = BlockRecord(index, xxh, sha, md5, n)
        self._free.append(buf)

    def finish(self) -> tuple[BlockRecord, ...]:
        while self._running:
            self._settle_oldest()
        return tuple(r for r in self.records if r is not None)

    def close(self) -> None:
        """Wait for running hashes (they read our buffers) and stop the pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def hash_local_file(
    fs_path: str | os.PathLike[str],
    known: Mapping[int, BlockRecord],
    stats: ScanStats | None = None,
) -> HashedFile:
    """Hash a file into blocks, reusing ``known`` (index -> block) where the xxh3 matches.

    Blocking. Raises :class:`FileUnstable` if the file changed meanwhile, and
    ``OSError`` if it cannot be read.
    """
    stats = stats if stats is not None else ScanStats()
    # a symlink or FIFO swapped in since the listing is refused, never followed or waited on
    flags = (
        os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    )
    blocks: _Blocks | None = None
    try:
        with os.fdopen(os.open(fs_path, flags), "rb", buffering=0) as f:
            before = os.fstat(f.fileno())
            if not stat.S_ISREG(before.st_mode):
                raise FileUnstable(f"{fs_path} is no longer a regular file")
            blocks = _Blocks(known, stats, before.st_size)
            total = 0
            while True:
                buf = blocks.buffer()
                n = _read_block(f, memoryview(buf))  # type: ignore[arg-type]
                if n == 0:
                    break
                total += n
                if _identity(os.fstat(f.fileno())) != _identity(before):
                    raise FileUnstable(f"{fs_path} changed while it was hashed")
                more = n == BLOCK_SIZE and total < before.st_size
                blocks.add(buf, n, more)
                if n < BLOCK_SIZE:
                    break
            records = blocks.finish()
            after = os.fstat(f.fileno())
    finally:
        if blocks is not None:
            blocks.close()
    stats.files_hashed += 1
    stats.bytes_read += total
    try:
        named = os.stat(fs_path, follow_symlinks=False)
    except FileNotFoundError:
        raise FileUnstable(f"{fs_path} was removed while it was hashed") from None
    if (
        _identity(before) != _identity(after)
        or _identity(named) != _identity(before)
        or total != before.st_size
    ):
        raise FileUnstable(f"{fs_path} changed while it was hashed")
    return HashedFile(
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
        content_hash(b.sha256 for b in records),
        records,
    )
