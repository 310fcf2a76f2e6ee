"""Removal of the harness's temp trees with many files, deferred to the end of the run.

Why: on ext4 without a journal (the file system of the machines RESULTS.md was measured on),
creating a file soon after many files were deleted is slow. For each free inode it considers,
the allocator reads that inode's deletion time and skips it if it was freed in the last
minute (``recently_deleted`` in the kernel's ``fs/ext4/ialloc.c``; six minutes while its
inode-table block is dirty), so every create rescans all the recent deletions of its group.
Measured here: 0.70–0.85 ms per create after 7,000 deletions against 0.09 ms without.
Removing a server stack (its PostgreSQL cluster and block files) or a daemon pair right
before the next timed pass made that pass, Tessera's or Syncthing's, pay for the harness's
own clean-up. Such trees are now renamed into a trash folder beside them (a rename frees no
inode) and removed when the run ends: :func:`empty` from ``bench/__main__.py``, or at exit.
Their big files (1 MiB or more: few inodes, much disk and page cache) go at once, so a run
needs no more disk than before and the memory they held is free for what comes next.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import stat
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_lock = threading.Lock()
_trash_dirs: set[Path] = set()
_count = 0
#: files at least this big are removed at once (see the module's docstring)
BIG_FILE = 1024 * 1024


def remove_later(path: Path) -> None:
    """Move ``path`` (a file or tree) out of the way now and remove it at the end of the run.

    Blocking (a rename, or a removal if the rename fails): call through ``asyncio.to_thread``.
    A missing ``path`` is not an error.
    """
    global _count
    trash = path.parent / f".bench-trash-{os.getpid()}"
    with _lock:
        _count += 1
        target = trash / f"{_count:05d}-{path.name}"
        first = not _trash_dirs
        _trash_dirs.add(trash)
    if first:
        atexit.register(empty)
    try:
        _remove_big_files(path)
        trash.mkdir(exist_ok=True)
        os.rename(path, target)
    except FileNotFoundError:
        return
    except OSError as e:  # another file system, a permission: remove it now instead
        log.warning("could not move %s to %s (%s): removing it now", path, trash, e)
        _remove(path)


def pending() -> list[Path]:
    """The trash folders whose removal is still to come."""
    with _lock:
        return sorted(_trash_dirs)


def empty() -> None:
    """Remove every tree handed to :func:`remove_later` so far (blocking)."""
    with _lock:
        dirs = list(_trash_dirs)
        _trash_dirs.clear()
    for trash in dirs:
        _remove(trash)


def _remove_big_files(path: Path) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        if stat.S_ISREG(st.st_mode) and st.st_size >= BIG_FILE:
            path.unlink()
        return
    for folder, _dirs, names in os.walk(path):
        for name in names:
            f = os.path.join(folder, name)
            try:
                st = os.lstat(f)
                if stat.S_ISREG(st.st_mode) and st.st_size >= BIG_FILE:
                    os.unlink(f)
            except OSError:  # gone already, or not ours to remove: the tree goes at the end anyway
                continue


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
