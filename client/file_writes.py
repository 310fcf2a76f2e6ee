"""The writes under a download's temp file (blocking): a block's pieces written at
their offset, its write-out to disk started early, and a rename that never
replaces anything.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from pathlib import Path

from . import libc

#: most buffers one pwritev takes (POSIX guarantees at least 16; Linux takes 1024)
_IOV_MAX = 1024


def pwrite_all(fd: int, pieces: Sequence[bytes | bytearray | memoryview], offset: int) -> None:
    """Write ``pieces`` back to back at ``offset`` (``pwritev``, resumed after a short write)."""
    views = [memoryview(p).cast("B") for p in pieces]
    while views:
        n = os.pwritev(fd, views[:_IOV_MAX], offset)
        offset += n
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


_sync_file_range = libc.linux_function(
    "sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
)
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, size: int) -> None:
    """Start writing a finished block to disk now, so the final fsync has little left to wait for.

    ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` only queues the write-out (it
    guarantees nothing: the fsync in :meth:`client.download_temp.TempFile.commit` does); where it
    is missing this does nothing.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, size, _SYNC_FILE_RANGE_WRITE)


def link_no_replace(src: Path, dst: Path) -> None:
    """Give ``src`` the name ``dst`` unless ``dst`` exists (FileExistsError), atomically if possible.

    A hard link fails atomically on an existing name; on a file system without
    hard links the existence check and the rename are two steps.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "File exists", str(dst)) from None
        os.replace(src, dst)
        return
    os.unlink(src)
