"""Files created without a name and named once complete (Linux ``O_TMPFILE`` + ``linkat``).

A block file written this way needs no temp name and no rename, and a crash
before it is named leaves nothing behind. It is also cheaper where creating a
named file is dear: on the ext4 volume of the benchmark machine a named create
cost 0.9–1.3 ms of kernel time, an unnamed file 27 µs and naming it 0.4–0.5 ms
(bench/RESULTS.md, small files). :func:`open_unnamed` gives None where the OS,
the file system or a missing ``/proc`` does not allow it; the caller then
creates a named temp file as before.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

_PROC_FD = Path("/proc/self/fd")
#: O_TMPFILE errors that mean "not here" (an old kernel or a file system without it)
_UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL, errno.ENOENT})


def open_unnamed(folder: Path) -> int | None:
    """A new unnamed regular file in ``folder`` (mode 0600), open for writing; None where not possible."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or os.link not in os.supports_dir_fd or not _PROC_FD.is_dir():
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as e:
        if e.errno in _UNSUPPORTED:
            return None
        raise


def name_unnamed(fd: int, path: Path) -> None:
    """Give the unnamed file open as ``fd`` the name ``path`` (FileExistsError if it is taken).

    ``linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, path, AT_SYMLINK_FOLLOW)`` is the way to
    name an ``O_TMPFILE`` file without privileges. :func:`os.link` makes that call only when
    given a directory descriptor (without one it calls ``link``, which does not follow the
    ``/proc`` link and fails with EXDEV), so the source is named relative to ``/proc/self/fd``.
    """
    proc_fd = os.open(_PROC_FD, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.link(str(fd), path, src_dir_fd=proc_fd, follow_symlinks=True)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    finally:
        os.close(proc_fd)
