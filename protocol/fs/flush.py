"""Making a group of files just written durable at once (blocking: call it from worker threads).

An ``fsync`` per file costs one journal commit per file on ext4 (a few ms each,
even several at once), so 250 small files and the ~20 folders their renames
touched cost a second. On Linux, one ``syncfs(2)`` writes out every dirty page
and inode of the file system and commits its journal once: the same guarantee
for all of them, for the price of about one fsync. Both the sync daemon's batch
download (:mod:`client.transfer.download.batch`) and the block server's grouped
small-block store (:mod:`blockserver.stores.local`) use it.

Error reporting: ``syncfs`` reports a write-back error of the file system that
happened since the descriptor it is given was opened (the super block's error
sequence, Linux 5.8 and later; older kernels always answered 0, so there this
module fsyncs each file instead). :class:`FlushGroup` opens that descriptor
when it is made, so the caller makes it *before* writing the group's files and
no error of those writes can be missed. After a failed ``syncfs`` every file is
fsynced on its own, so the error lands on the file(s) it belongs to.

Crash safety, as the callers use it: (1) write every temp file, (2)
:meth:`FlushGroup.files`, (3) rename each temp file whose flush succeeded into
place, (4) :meth:`FlushGroup.folders` for the folders of those renames, (5) only
then report or record the files as stored. A crash before (2) returns leaves at
most temp files (never a visible name); one after (2) but before (4) may lose
renames, never their data, so a visible name always has its whole, durable
content; and nothing is recorded as stored before (4) returned.

The cost of ``syncfs`` grows with the dirty data *other* programs have on the
file system (it writes theirs too: a large file being written elsewhere would
make every small batch wait for it), so a group whose machine holds more than
:data:`SYNCFS_MAX_DIRTY` bytes waiting to be written (``Dirty`` + ``Writeback``
in ``/proc/meminfo``) fsyncs each file instead. A file on another file system
than the group's anchor is fsynced on its own.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from . import libc
from .atomic import fsync_dir

T = TypeVar("T")

#: fsyncs run at once where one syncfs cannot do (fsyncs running together share journal commits)
FSYNC_THREADS = 8
#: more dirty bytes than this on the machine: one fsync per file rather than a syncfs that writes them all
SYNCFS_MAX_DIRTY = 64 * 1024 * 1024
#: the first Linux whose syncfs reports write-back errors (errseq on the super block)
_SYNCFS_REPORTS_ERRORS = (5, 8)


def _kernel_version() -> tuple[int, int]:
    parts = os.uname().release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return 0, 0


_syncfs = (
    libc.linux_function("syncfs", [ctypes.c_int])
    if sys.platform.startswith("linux") and _kernel_version() >= _SYNCFS_REPORTS_ERRORS
    else None
)


def _dirty_bytes() -> int:
    """Bytes of the page cache waiting to be written (a large figure if it cannot be read)."""
    total = 0
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith((b"Dirty:", b"Writeback:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return SYNCFS_MAX_DIRTY + 1
    return total


def syncfs_available() -> bool:
    """Whether this system flushes a group with one ``syncfs`` (else: one fsync per file)."""
    return _syncfs is not None


class FlushGroup:
    """Flushes files written after it was made, on the file system of ``anchor`` (a folder).

    Use it as a context manager (it holds one descriptor of ``anchor``);
    ``use_syncfs=False``, or an anchor that cannot be opened, means one fsync
    per file and folder.
    """

    def __init__(self, anchor: Path, *, use_syncfs: bool = True) -> None:
        self._syncfs = _syncfs if use_syncfs else None
        self._fd = -1
        self._dev: int | None = None
        if self._syncfs is not None:
            try:
                self._fd = os.open(
                    anchor, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
                )
                self._dev = os.fstat(self._fd).st_dev
            except OSError:  # e.g. the folder is gone: every file is fsynced on its own
                self.close()
                self._syncfs = None
        #: syncfs calls made (for tests and logs)
        self.syncfs_calls = 0

    def __enter__(self) -> FlushGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _syncfs_ok(self) -> bool:
        """One syncfs of the anchor's file system; False if it failed or would write much more than
        the group (the caller fsyncs instead)."""
        if self._syncfs is None or _dirty_bytes() > SYNCFS_MAX_DIRTY:
            return False
        self.syncfs_calls += 1
        return self._syncfs(self._fd) == 0

    def files(self, fds: Sequence[int]) -> list[OSError | None]:
        """Make the data and size of each open file durable; per file None or the error."""
        mine = []
        for fd in fds:
            try:
                mine.append(os.fstat(fd).st_dev == self._dev)
            except OSError:
                mine.append(False)  # its own fsync reports the problem
        if self._syncfs is not None and any(mine) and self._syncfs_ok():
            alone = [fd for fd, m in zip(fds, mine, strict=True) if not m]
            errors = dict(zip(alone, _fsync_each(alone, os.fsync), strict=True))
            return [errors.get(fd) if not m else None for fd, m in zip(fds, mine, strict=True)]
        return _fsync_each(fds, os.fsync)

    def folders(self, folders: Iterable[Path]) -> None:
        """Make the entries just renamed into these folders durable (OSError if that failed)."""
        folders = list(folders)
        if not folders:
            return
        if self._syncfs is not None and all(_dev_of(f) == self._dev for f in folders) and self._syncfs_ok():
            return
        for err in _fsync_each(folders, fsync_dir):
            if err is not None:
                raise err


def _dev_of(path: Path) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def _fsync_each(items: Sequence[T], fsync: Callable[[T], None]) -> list[OSError | None]:
    def one(item: T) -> OSError | None:
        try:
            fsync(item)
        except OSError as e:
            return e
        return None

    if len(items) <= 1:
        return [one(i) for i in items]
    with ThreadPoolExecutor(min(FSYNC_THREADS, len(items)), thread_name_prefix="tessera-fsync") as pool:
        return list(pool.map(one, items))
