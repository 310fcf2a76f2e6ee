"""Fixed-size chunker: a pure generator over a binary file object.

``FailingChunker`` is its fault-injecting twin for tests: it raises ``OSError``
after a given number of blocks, as a disk read error would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from .hashing import BLOCK_SIZE


def iter_blocks(f: BinaryIO, block_size: int = BLOCK_SIZE) -> Iterator[bytes]:
    """Yield successive blocks of ``block_size`` bytes (the last may be shorter).

    An empty file yields nothing. Short reads (pipes, sockets) are filled up so
    that every block but the last is exactly ``block_size`` long.
    """
    while True:
        buf = f.read(block_size)
        if not buf:
            return
        while len(buf) < block_size:
            more = f.read(block_size - len(buf))
            if not more:
                break
            buf += more
        yield buf
        if len(buf) < block_size:
            return


class FailingChunker:
    """Like :func:`iter_blocks`, but fails with OSError after ``fail_after`` blocks."""

    def __init__(self, fail_after: int, block_size: int = BLOCK_SIZE) -> None:
        self.fail_after = fail_after
        self.block_size = block_size

    def __call__(self, f: BinaryIO) -> Iterator[bytes]:
        for i, block in enumerate(iter_blocks(f, self.block_size)):
            if i >= self.fail_after:
                raise OSError(f"injected read error at block {i}")
            yield block
