"""Checking a version's block list as it arrives (sans-io).

A block list is trusted only once it adds up: blocks in order from 0, each
4 MiB but the last (which holds the rest of the version's size), and their
SHA-256s chaining to the version's content hash. Single downloads feed it page
by page; batch downloads one list per file.
"""

from __future__ import annotations

import hashlib

from protocol.errors import HashMismatch, ProtocolError
from protocol.hashing import BLOCK_SIZE, block_count
from protocol.messages.blocks import RemoteBlock


class BlockListCheck:
    """Feed every block in order with :meth:`add`, then call :meth:`finish`."""

    def __init__(self, path: str, rev: int | None, size: int, content_hash: str | None) -> None:
        self.path = path
        self.rev = rev
        self.content_hash = content_hash
        self.nblocks = block_count(size)
        self._last_size = size - (self.nblocks - 1) * BLOCK_SIZE
        self._chain = hashlib.sha256()
        #: blocks checked so far (the index the next one must have)
        self.index = 0

    def add(self, b: RemoteBlock) -> None:
        want_size = self._last_size if b.index == self.nblocks - 1 else BLOCK_SIZE
        if b.index != self.index or b.size != want_size:
            raise ProtocolError(f"the block list of {self.path} is inconsistent at block {self.index}")
        try:
            self._chain.update(bytes.fromhex(b.sha256))
        except ValueError:
            raise ProtocolError(f"block {self.index} of {self.path} has a malformed SHA-256") from None
        self.index += 1

    def finish(self) -> None:
        if self.index != self.nblocks:
            raise ProtocolError(
                f"the block list of {self.path} has {self.index} blocks, expected {self.nblocks}"
            )
        if self._chain.hexdigest() != self.content_hash:
            raise HashMismatch(
                f"the blocks of {self.path} (rev {self.rev}) do not add up to its content hash"
            )
