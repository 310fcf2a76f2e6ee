"""The blocks of a file already at a download's target, copied instead of downloaded.

``tessera get`` over an older copy of the same file (or the library's
``download_file`` onto an existing file) first reads that file once, block by
block: a few blocks at once in worker threads, each through a buffer of a
small pool (memory is ``threads`` blocks however large the file). Each block
read is hashed with SHA-256, and written straight into the temp file at every
index of the new version's first page of blocks (up to 1,000 blocks, 4 GiB)
that has that SHA-256: the hash just computed over those very bytes is their
verification, so a block is read and hashed once. What the pass learnt (which
SHA-256 lies where in the old file) serves the later pages: those blocks are
copied from the old file and verified again as they are copied (see
:mod:`client.transfer.download.temp`), the old file having had time to change.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from client.transfer.buffers import BlockBuffers
from client.transfer.concurrency import bounded_map, open_in_thread
from client.transfer.fileguard import UseGuard
from protocol.hashing import BLOCK_SIZE, block_count
from protocol.messages.blocks import RemoteBlock

from .file_writes import open_regular
from .temp import LocalBlock, TempFile

log = logging.getLogger(__name__)

#: blocks of the existing file read and hashed at once
HASH_THREADS = 2


@dataclass
class OldCopy:
    """What the pass over the old file found."""

    #: indexes of the new version written into the temp file from the old file
    written: set[int] = field(default_factory=set)
    #: SHA-256 (hex) → where a block with it lies in the old file
    blocks: dict[str, LocalBlock] = field(default_factory=dict)


async def reuse_old_copy(
    target: Path, part: TempFile, wanted: Sequence[RemoteBlock], *, threads: int = HASH_THREADS
) -> OldCopy:
    """Read the regular file at ``target`` once and write its blocks that ``wanted`` has into ``part``.

    Nothing is found (and nothing written) when no regular file is there or it
    cannot be read: the download then fetches every block.
    """
    found = OldCopy()
    fd = await open_in_thread(lambda: open_regular(target, lambda st: st.st_size > 0), _close)
    if fd is None:
        return found
    by_sha: dict[str, list[RemoteBlock]] = {}
    for b in wanted:
        by_sha.setdefault(b.sha256, []).append(b)
    guard = UseGuard(f"old copy {target}")  # a cancelled read may still run: close after it
    try:
        size = (await asyncio.to_thread(os.fstat, fd)).st_size
        buffers = BlockBuffers(threads)

        async def one(index: int) -> None:
            offset = index * BLOCK_SIZE
            async with buffers.take() as buf:
                digest, written = await asyncio.to_thread(
                    _hash_and_place, guard, fd, offset, buf, part, by_sha
                )
            if digest is not None:
                found.blocks.setdefault(digest, LocalBlock(target, offset))
                found.written.update(written)

        await bounded_map(range(block_count(size)), one, limit=threads)
    except OSError as e:  # the old file is only a shortcut: what it did not give is downloaded
        log.debug("cannot reuse the blocks of %s: %s", target, e)
    finally:
        await asyncio.shield(asyncio.to_thread(_close_guarded, guard, fd))
    return found


def _hash_and_place(
    guard: UseGuard,
    fd: int,
    offset: int,
    buf: bytearray,
    part: TempFile,
    by_sha: dict[str, list[RemoteBlock]],
) -> tuple[str | None, list[int]]:
    """Read and hash the old block at ``offset``; write it wherever the new version has it.

    Returns its SHA-256 (None past the end of the file) and the indexes written.
    """
    with guard.use():
        n = os.preadv(fd, [buf], offset)
    if not n:
        return None, []
    data = memoryview(buf)[:n]
    digest = hashlib.sha256(data).hexdigest()
    written = []
    for block in by_sha.get(digest, ()):
        if part.write_hashed(block, data, digest) == "":
            written.append(block.index)
    return digest, written


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _close_guarded(guard: UseGuard, fd: int) -> None:
    guard.close()
    os.close(fd)
