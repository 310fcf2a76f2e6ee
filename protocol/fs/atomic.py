"""Writes a reader sees whole or not at all, also across a crash (blocking: call from threads).

A file is written to a temp file in its own folder (so the rename never crosses
a file system), flushed with ``fsync``, and ``os.replace``-d onto its name; the
folder is then fsynced so that the new name survives a crash too. The temp file
is removed on any failure. Temp files are dot-files named after their target,
``.<name>.<random>.tmp`` (mode 0600), so a folder listing can tell them apart.

:func:`write_atomic` does all of it for bytes in memory; :func:`create_temp`,
:func:`publish` and :func:`discard` are its three steps for a caller that streams
the content in between.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"


def fsync_dir(folder: Path) -> None:
    """Make the entries just created, renamed or removed in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(final: Path) -> Path:
    """A fresh temp file name beside ``final`` (nothing is created)."""
    return final.parent / f"{TEMP_PREFIX}{final.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def open_temp(final: Path) -> tuple[int, Path]:
    """A new empty temp file beside ``final`` (mode 0600): its descriptor, open for writing, and name."""
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f"{TEMP_PREFIX}{final.name}.", suffix=TEMP_SUFFIX)
    return fd, Path(name)


def create_temp(final: Path) -> tuple[BinaryIO, Path]:
    """:func:`open_temp` as a binary file object."""
    fd, tmp = open_temp(final)
    try:
        return os.fdopen(fd, "wb"), tmp
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise


def publish(f: BinaryIO, tmp: Path, final: Path, *, sync_dir: bool = True) -> None:
    """Flush and close the temp file ``f`` (named ``tmp``), then rename it onto ``final``; with
    ``sync_dir``, fsync the folder so the new name is durable too."""
    f.flush()
    os.fsync(f.fileno())
    f.close()
    os.replace(tmp, final)
    if sync_dir:
        fsync_dir(final.parent)


def discard(f: BinaryIO, tmp: Path) -> None:
    """Close and remove a temp file that is not to be published (after any failure)."""
    try:
        f.close()
    except OSError as e:  # a failed flush of a file we are dropping anyway
        log.debug("closing discarded temp file %s: %s", tmp, e)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def write_atomic(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace the file at ``path`` with ``data`` (mode 0600) atomically; see the module docstring."""
    f, tmp = create_temp(path)
    try:
        f.write(data)
        publish(f, tmp, path, sync_dir=sync_dir)
    except BaseException:
        discard(f, tmp)
        raise
