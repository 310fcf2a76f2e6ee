"""The C library calls of Linux that Python's :mod:`os` lacks (``syncfs``,
``sync_file_range``, ``renameat2``), loaded once with ``errno`` kept.

:func:`linux_function` gives ``None`` on other systems or where the C library
has no such function; callers then do without (each says how).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def linux_function(name: str, argtypes: Sequence[Any]) -> Callable[..., int] | None:
    """The C library's ``name`` returning an ``int``, or None off Linux or where it is missing."""
    if not sys.platform.startswith("linux"):
        return None
    libc = _libc()
    try:
        fn = getattr(libc, name) if libc is not None else None
    except AttributeError:
        return None
    if fn is None:
        return None
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn


def last_errno() -> int:
    """``errno`` as the last call through :func:`linux_function` left it (this thread's)."""
    return ctypes.get_errno()
