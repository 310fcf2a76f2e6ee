"""Writing a download's whole blocks straight to disk (``O_DIRECT``), past the page cache (blocking I/O).

A download is fsynced before it becomes visible (:meth:`client.transfer.download.temp.TempFile.commit`),
so its bytes must reach the disk before the user sees the file anyway: a buffered write
only copies them into page cache for the fsync to write out. Writing each verified block
with ``O_DIRECT`` skips that copy and the page-cache memory it takes. Where page-cache
memory is dear the difference is large: on the VMs of bench/RESULTS.md a buffered 1 GiB
write + fsync took 1.6-4.0 s and 1.5-5.2 s of kernel CPU (the hypervisor backs fresh guest
memory on first touch), a direct one 0.9-1.9 s and 0.1-0.3 s of CPU
(``/tmp`` probe: 4 threads writing 4 MiB blocks). It also keeps a 50 GB download from
pushing everything else out of the page cache.

``O_DIRECT`` wants the buffer, the file offset and the length aligned to the device's
logical block size: a block (at ``index * BLOCK_SIZE``) is copied 1 MiB at a time into a
page-aligned per-thread buffer and written direct from there, and its tail (under 4 KiB, the
last block of a file) through the ordinary descriptor. A file system that refuses ``O_DIRECT``
(at open, or ``EINVAL`` on a write) gets buffered writes, as before.
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from .file_writes import pwrite_all

log = logging.getLogger(__name__)

#: offsets and lengths of direct writes are multiples of this (every common logical block size divides it)
ALIGN = 4096
#: blocks smaller than this are written through the page cache (a small file, a short last block)
MIN_DIRECT = 256 * 1024
#: a block goes out in direct writes of this size, through one buffer per thread (as fast here
#: as whole 4 MiB blocks: 775-837 against 732-997 MiB/s with 6 threads; a quarter of the memory)
CHUNK = 1024 * 1024

_local = threading.local()


class _Unaligned(Exception):
    """A direct write came back short, off the alignment: the block is rewritten buffered."""


def _aligned_buffer() -> memoryview:
    """This thread's page-aligned buffer of one chunk (anonymous memory: mmap aligns it)."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = memoryview(mmap.mmap(-1, CHUNK))
    return buf


def _pwrite_aligned(fd: int, data: memoryview, offset: int) -> None:
    done = 0
    while done < data.nbytes:
        n = os.pwrite(fd, data[done:], offset + done)
        if n <= 0 or n % ALIGN:
            raise _Unaligned
        done += n


class DirectWriter:
    """A second descriptor on a temp file, open with ``O_DIRECT``, for its whole blocks."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        #: False once the file system refused a direct write (the descriptor stays open until
        #: :meth:`close`: other threads may be writing through it)
        self.enabled = True
        #: blocks written direct so far
        self.blocks = 0

    @classmethod
    def open(cls, path: Path) -> DirectWriter | None:
        """A direct writer on ``path``, or None where the platform or file system has no ``O_DIRECT``."""
        flag = getattr(os, "O_DIRECT", 0)
        if not flag:
            return None
        try:
            fd = os.open(path, os.O_WRONLY | flag | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            log.debug("no O_DIRECT for %s (%s): writing through the page cache", path, e)
            return None
        return cls(fd)

    def write(self, buffered_fd: int, pieces: Sequence[bytes | bytearray | memoryview], offset: int, size: int) -> bool:
        """Write a block of ``size`` bytes (``pieces`` in order) at ``offset``; False (nothing
        written, or garbage the caller overwrites) where it must go through ``buffered_fd``."""
        fd = self._fd
        if fd is None or not self.enabled or size < MIN_DIRECT or offset % ALIGN:
            return False
        views = [memoryview(p).cast("B") for p in pieces]
        if sum(v.nbytes for v in views) != size:
            return False
        buf = _aligned_buffer()
        fill, at = 0, offset  # bytes in buf, and where buf[0] goes in the file
        try:
            for view in views:
                while view.nbytes:
                    n = min(CHUNK - fill, view.nbytes)
                    buf[fill : fill + n] = view[:n]
                    fill, view = fill + n, view[n:]
                    if fill == CHUNK:
                        _pwrite_aligned(fd, buf, at)
                        fill, at = 0, at + CHUNK
            tail = fill % ALIGN
            if fill > tail:
                _pwrite_aligned(fd, buf[: fill - tail], at)
        except _Unaligned:
            return False
        except OSError as e:
            if e.errno != errno.EINVAL:
                raise
            log.debug("O_DIRECT write refused (%s): writing through the page cache from now on", e)
            self.enabled = False
            return False
        if tail:
            pwrite_all(buffered_fd, [buf[fill - tail : fill]], at + fill - tail)
        self.blocks += 1
        return True

    def close(self) -> None:
        """Close the descriptor; no write may be running."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
