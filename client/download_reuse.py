"""The blocks of a file already at a download's target, to copy instead of downloading.

``tessera get`` over an older copy of the same file (or the library's
``download_file`` onto an existing file) hashes that file first: SHA-256 of
each 4 MiB block, a few blocks at once in worker threads, each through a
buffer of a small pool (memory is ``threads`` blocks however large the file).
Every block of the new version whose SHA-256 is among them is then copied from
the old file (and verified again as it is copied, see
:mod:`client.download_temp`) instead of fetched from a block server.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
from pathlib import Path

from protocol.hashing import BLOCK_SIZE, block_count

from .blockbuf import BlockBuffers
from .concurrency import bounded_map, open_in_thread
from .download_temp import LocalBlock
from .fileguard import UseGuard

log = logging.getLogger(__name__)

#: blocks of the existing file hashed at once
HASH_THREADS = 2


async def index_existing(target: Path, *, threads: int = HASH_THREADS) -> dict[str, LocalBlock]:
    """SHA-256 (hex) → where that block is in the regular file at ``target``; empty if none is there."""
    fd = await open_in_thread(lambda: _open_regular(target), _close)
    if fd is None:
        return {}
    found: dict[str, LocalBlock] = {}
    guard = UseGuard(f"old copy {target}")  # a cancelled hash may still read: close after it
    try:
        size = (await asyncio.to_thread(os.fstat, fd)).st_size
        buffers = BlockBuffers(threads)

        async def hash_one(index: int) -> None:
            async with buffers.take() as buf:
                digest = await asyncio.to_thread(_hash_at, guard, fd, index * BLOCK_SIZE, buf)
            if digest is not None:
                found.setdefault(digest, LocalBlock(target, index * BLOCK_SIZE))

        await bounded_map(range(block_count(size)), hash_one, limit=threads)
    except OSError as e:  # the old file is only a shortcut: download everything instead
        log.debug("cannot reuse the blocks of %s: %s", target, e)
        return {}
    finally:
        await asyncio.shield(asyncio.to_thread(_close_guarded, guard, fd))
    return found


def _open_regular(path: Path) -> int | None:
    """A read-only fd of ``path`` if it is a regular file (never following a symlink), else None."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        os.close(fd)
        return None
    return fd


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _close_guarded(guard: UseGuard, fd: int) -> None:
    guard.close()
    os.close(fd)


def _hash_at(guard: UseGuard, fd: int, offset: int, buf: bytearray) -> str | None:
    """SHA-256 of the block at ``offset`` (read into ``buf``); None if the file ends there."""
    with guard.use():
        n = os.preadv(fd, [buf], offset)
    return hashlib.sha256(memoryview(buf)[:n]).hexdigest() if n else None
