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

import ctypes
import errno
import os
from pathlib import Path

from protocol.fs import libc

_PROC_FD = Path("/proc/self/fd")
_AT_FDCWD = -100
_AT_SYMLINK_FOLLOW = 0x400
#: O_TMPFILE errors that mean "not here" (an old kernel or a file system without it)
_UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL, errno.ENOENT})

_linkat = libc.linux_function(
    "linkat", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
)


def open_unnamed(folder: Path) -> int | None:
    """A new unnamed regular file in ``folder`` (mode 0600), open for writing; None where not possible."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or _linkat is None or not _PROC_FD.is_dir():
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as e:
        if e.errno in _UNSUPPORTED:
            return None
        raise


def name_unnamed(fd: int, path: Path) -> None:
    """Give the unnamed file open as ``fd`` the name ``path`` (FileExistsError if it is taken)."""
    assert _linkat is not None
    if _linkat(_AT_FDCWD, os.fsencode(_PROC_FD / str(fd)), _AT_FDCWD, os.fsencode(path), _AT_SYMLINK_FOLLOW):
        err = libc.last_errno()
        raise OSError(err, os.strerror(err), str(path))
