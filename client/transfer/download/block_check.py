"""Checking a block's bytes as they pass, and the copies a temp file checks them in (blocking).

:class:`BlockCheck` hashes a block's bytes piece by piece: its SHA-256 (its identity), or only
the xxh3-64 a local file's block index vouches for those bytes with, and the xxh3-64 the sync
daemon's index keeps of every block written. A block copied from a local file goes through
:func:`copy_in_kernel` (``os.copy_file_range``: no pass through Python) and is read back by
:func:`read_back`, or, where the kernel cannot copy between the two files, is read, hashed and
written by :func:`copy_through_buffer`; both use one small buffer per worker thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading

import xxhash

from protocol.messages.blocks import RemoteBlock

from .file_writes import pwrite_all

#: the read-back / fallback buffer of one worker thread
COPY_PIECE = 1024 * 1024
#: copy_file_range errors that mean "not between these two files": fall back to read + write
NO_COPY_RANGE = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL})

_local = threading.local()


def piece_buffer() -> memoryview:
    """This worker thread's buffer for read-backs and fallback copies (allocated once per thread)."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(bytearray(COPY_PIECE))
    return buf


class BlockCheck:
    """SHA-256 (or, given ``by_xxh3``, only that xxh3-64) and the sink's xxh3 over one block's bytes, piece by piece."""

    __slots__ = ("sha", "xxh", "size", "by_xxh3")

    def __init__(self, with_xxh: bool, by_xxh3: str | None = None) -> None:
        self.by_xxh3 = by_xxh3
        self.sha = hashlib.sha256() if by_xxh3 is None else None
        self.xxh = xxhash.xxh3_64() if with_xxh or by_xxh3 is not None else None
        self.size = 0

    def update(self, piece: bytes | memoryview) -> None:
        if self.sha is not None:
            self.sha.update(piece)  # releases the GIL for pieces over 2 KiB
        if self.xxh is not None:
            self.xxh.update(piece)
        self.size += len(piece)

    def problem(self, block: RemoteBlock) -> str:
        """Why the bytes are not the block's; empty if they are."""
        if self.size != block.size:
            return f"size {self.size}, expected {block.size}"
        if self.sha is None:
            assert self.xxh is not None
            if self.xxh.hexdigest() != self.by_xxh3:
                return "content does not match the xxh3 it was indexed with"
            return ""
        got = self.sha.hexdigest()
        if got != block.sha256:
            return f"content does not match its SHA-256 (got {got[:16]}..., expected {block.sha256[:16]}...)"
        return ""


def copy_in_kernel(src: int, dst: int, src_off: int, dst_off: int, size: int) -> int | None:
    """copy_file_range the bytes; how many were copied (fewer where the source ends early),
    or None (nothing to trust) if the kernel cannot for these files."""
    left = size
    while left:
        try:
            n = os.copy_file_range(src, dst, left, src_off, dst_off)
        except OSError as e:
            if e.errno in NO_COPY_RANGE:
                return None
            raise
        if n == 0:
            break  # the source ended early: the read-back finds the block short
        left, src_off, dst_off = left - n, src_off + n, dst_off + n
    return size - left


def read_back(fd: int, offset: int, size: int, check: BlockCheck) -> None:
    """Feed what the file ``fd`` now holds at ``offset`` to ``check``."""
    buf = piece_buffer()
    end = offset + size
    while offset < end:
        n = os.preadv(fd, [buf[: min(COPY_PIECE, end - offset)]], offset)
        if n == 0:
            break
        check.update(buf[:n])
        offset += n


def copy_through_buffer(src: int, dst: int, src_off: int, dst_off: int, size: int, check: BlockCheck) -> None:
    """Read, hash and write the bytes piece by piece (no copy_file_range between these files)."""
    buf = piece_buffer()
    left = size
    while left:
        n = os.preadv(src, [buf[: min(COPY_PIECE, left)]], src_off)
        if n == 0:
            break  # the source ended early: the check finds the block short
        check.update(buf[:n])
        pwrite_all(dst, [buf[:n]], dst_off)
        left, src_off, dst_off = left - n, src_off + n, dst_off + n
