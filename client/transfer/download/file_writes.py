"""The writes under a download's temp file (blocking): a block's pieces written at
their offset, its write-out to disk started early, its modification time, a
rename that never replaces anything, and the old version a rename replaces,
freed off the caller's path.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from protocol.fs import libc

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
    guarantees nothing: the fsync in :meth:`client.transfer.download.temp.TempFile.commit` does); where it
    is missing this does nothing.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, size, _SYNC_FILE_RANGE_WRITE)


def set_modified(fd: int, modified: float | None) -> None:
    """Give a downloaded file its revision's time as its modification time: the time the file
    had on the device that uploaded it, else when the revision was committed
    (:attr:`protocol.messages.blocks.BlockPage.file_time`).

    So a file has the same modification time on every device, when it was
    last changed, not when it arrived. It also makes the daemon's block
    index trust a file it has just written: a stamp whose mtime is at least a
    racy window older than its hashing is not racy (:func:`client.sync.local.scan.is_racy`),
    because any later write moves the mtime to the present. A time in this
    machine's future (another clock ahead of ours) is not used: the file
    keeps the time of the writing. None (an older server) leaves it alone.
    """
    if modified is None or os.utime not in os.supports_fd:
        return
    now = time.time_ns()
    mtime = int(modified * 1e9)
    if mtime < now:
        os.utime(fd, ns=(now, mtime))


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_renameat2 = libc.linux_function(
    "renameat2", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
)


def rename_noreplace_atomic(src: Path, dst: Path) -> bool:
    """``renameat2(RENAME_NOREPLACE)``: True if renamed, False where the OS or file system lacks
    it (nothing done); FileExistsError if ``dst`` exists, OSError for the rest."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = libc.last_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # the file system lacks the flag
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def link_no_replace(src: Path, dst: Path) -> None:
    """Give ``src`` the name ``dst`` unless ``dst`` exists (FileExistsError), atomically if possible.

    One ``renameat2(RENAME_NOREPLACE)`` where the OS has it; else a hard link
    (which fails atomically on an existing name) and an unlink; on a file
    system without either, the existence check and the rename are two steps.
    """
    if rename_noreplace_atomic(src, dst):
        return
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


def open_regular(path: Path, wanted: Callable[[os.stat_result], bool] = lambda _st: True) -> int | None:
    """A read-only descriptor of the regular file at ``path`` whose stat ``wanted`` accepts; else None.

    Never through a symlink, and never blocking on a FIFO.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode) or not wanted(st):
        os.close(fd)
        return None
    return fd


#: a replaced file holding at least this much disk is freed by :func:`release_replaced`
HOLD_REPLACED_MIN = 8 * 2**20
#: closes held descriptors (its thread starts with the first one)
_releaser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tessera-free-replaced")


def hold_replaced(target: Path) -> int | None:
    """Open the big regular file at ``target`` that a rename is about to replace; None if there is none.

    Renaming over a file frees its blocks in the rename (or in the folder's
    fsync) when that was its last name and nothing has it open: tens of
    milliseconds for 256 MiB here, more on a file system that discards freed
    blocks. While this descriptor is open the old version lives on, nameless,
    and :func:`release_replaced` frees it later in a thread of its own, after
    the new version is in place. Small files, other kinds of files, links and
    files with other names are not held (freeing them costs nothing now).
    """
    return open_regular(target, lambda st: st.st_nlink == 1 and st.st_blocks * 512 >= HOLD_REPLACED_MIN)


def release_replaced(fd: int | None) -> None:
    """Close a descriptor from :func:`hold_replaced` in the background (the old version is freed there)."""
    if fd is not None:
        _releaser.submit(os.close, fd)
