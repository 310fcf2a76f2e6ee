"""The block-level work of an upload: hashing every block once, and sending the needed ones.

:func:`hash_blocks` hashes a file's blocks (MD5, SHA-256, xxh3) in parallel
worker threads, each into one of the upload's reusable buffers.
:class:`BlockSender` PUTs the blocks an upload session still needs,
``buffers.count`` at once: each is re-read from the file and checked against
its xxh3 in a thread while the others are on the wire. It also sends the
parts of a block list given in parts (:meth:`BlockSender.send_part`,
:mod:`client.transfer.upload.pipeline`), each block id once. A block the block
server refuses with ``hash_mismatch`` (its MD5 or SHA-256 is not the one
announced) means the file changed since it was hashed: :class:`FileChanged`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.api.errors import FileChanged
from client.transfer.buffers import BlockBuffers
from client.transfer.concurrency import bounded_map
from client.transfer.filehash import FileHash, HashedBlock, LocalFile
from client.transfer.progress import HASH, UPLOAD, Progress
from protocol.errors import GrantExpired, HashMismatch, ProtocolError
from protocol.hashing import BLOCK_SIZE, BlockHash
from protocol.messages.uploads import UploadSession

if TYPE_CHECKING:
    from client.api.client import ApiClient

log = logging.getLogger(__name__)

#: fresh grants fetched for one block before giving up
MAX_GRANT_REFRESHES = 3


async def hash_blocks(local: LocalFile, progress: Progress, buffers: BlockBuffers) -> FileHash:
    """Hash every block once, ``buffers.count`` at a time in worker threads, reporting progress.

    Cancellable between blocks; a thread already hashing finishes with its
    buffer, which is then not reused (see :class:`~client.transfer.buffers.BlockBuffers`).
    """
    progress.phase(HASH, local.size)
    count = (local.size + BLOCK_SIZE - 1) // BLOCK_SIZE
    blocks: list[HashedBlock | None] = [None] * count

    async def hash_one(index: int) -> None:
        async with buffers.take() as buf:
            blocks[index] = block = await asyncio.to_thread(local.hash_block_at, index, buf)
        progress.advance(block.wire.size)

    await bounded_map(range(count), hash_one, limit=buffers.count)
    done = [b for b in blocks if b is not None]
    return await asyncio.to_thread(local.finish_hash, done)


@dataclass(slots=True)
class HashedSoFar:
    """A file's blocks as far as they are hashed, by index (None: not hashed yet)."""

    blocks: list[BlockHash | None]
    xxh3: list[str | None]


class BlockSender:
    """Sends the blocks a session needs, refreshing expired grants (once for all workers)."""

    def __init__(
        self,
        client: ApiClient,
        local: LocalFile,
        hashed: FileHash | HashedSoFar,
        session: UploadSession,
        progress: Progress,
        buffers: BlockBuffers,
    ) -> None:
        self._client = client
        self._local = local
        self._hashed = hashed
        self._upload_id = session.upload_id
        self._progress = progress
        self._buffers = buffers
        self._servers: list[str] = []
        self._grants: dict[str, str] = {}
        self._stored: set[str] = set()
        #: block ids :meth:`send_part` sent or is sending (one PUT per id across parts)
        self._claimed: set[str] = set()
        self._generation = 0
        self._refresh_lock = asyncio.Lock()
        self.blocks_sent = 0
        self.bytes_sent = 0

    def _absorb(self, session: UploadSession, part: bool = False) -> dict[str, int]:
        """Take the session's (or part's) servers and grants; return needed block id -> first index."""
        if session.upload_id != self._upload_id:
            raise ProtocolError("the server answered for another upload session")
        if not part and session.blocks_complete and len(session.blocks) != len(self._hashed.blocks):
            raise ProtocolError(
                f"the upload session lists {len(session.blocks)} blocks, the file has {len(self._hashed.blocks)}"
            )
        self._servers = list(session.block_servers)
        needed: dict[str, int] = {}
        for b in session.blocks:
            if not 0 <= b.index < len(self._hashed.blocks) or self._hashed.blocks[b.index] is None:
                raise ProtocolError(f"the upload session names block {b.index}, which the file does not have")
            if b.grant:
                self._grants[b.block_id] = b.grant
            if b.state == "stored":
                self._stored.add(b.block_id)
            else:
                needed.setdefault(b.block_id, b.index)
        lacking = [bid for bid in needed if bid not in self._grants]
        if lacking:
            raise ProtocolError(f"the upload session gave no grant for {len(lacking)} needed block(s)")
        return needed

    async def send(self, session: UploadSession) -> None:
        needed = self._absorb(session)
        self._progress.phase(UPLOAD, sum(self._size(i) for i in needed.values()))
        await bounded_map(needed.items(), self._send_one, limit=self._buffers.count)

    async def send_part(self, part: UploadSession) -> None:
        """Send the needed blocks of one part of a block list not sent for an earlier part; the
        progress (phase set by the caller, for the whole file) advances by the part's size."""
        needed = {bid: i for bid, i in self._absorb(part, part=True).items() if bid not in self._claimed}
        self._claimed.update(needed)
        self._progress.advance(sum(self._size(b.index) for b in part.blocks) - sum(self._size(i) for i in needed.values()))
        await bounded_map(needed.items(), self._send_one, limit=self._buffers.count)

    def _size(self, index: int) -> int:
        block = self._hashed.blocks[index]
        assert block is not None
        return block.size

    async def _send_one(self, item: tuple[str, int]) -> None:
        block_id, index = item
        expected, xxh3 = self._hashed.blocks[index], self._hashed.xxh3[index]
        assert expected is not None and xxh3 is not None
        async with self._buffers.take() as buf:
            data = await asyncio.to_thread(self._local.read_block, index, expected, xxh3, buf)
            for refresh in range(MAX_GRANT_REFRESHES + 1):
                generation = self._generation
                try:
                    await self._client.put_block(self._servers, index, block_id, self._grants[block_id], data)
                    break
                except HashMismatch as err:
                    # the bytes read are not those hashed: the file changed between the hashing
                    # and this read in a way its xxh3 did not tell (or the caller's hashes were wrong)
                    raise FileChanged(
                        f"{self._local.path} changed while it was being uploaded (block {index}: "
                        f"{err.message}); nothing was committed"
                    ) from err
                except GrantExpired:
                    if refresh == MAX_GRANT_REFRESHES:
                        raise
                    if not await self._refresh(generation, block_id):
                        break  # stored meanwhile (an earlier PUT whose answer was lost)
        self.blocks_sent += 1
        self.bytes_sent += expected.size
        self._progress.advance(expected.size)

    async def _refresh(self, seen_generation: int, block_id: str) -> bool:
        """Fetch fresh grants unless another worker already did; True if the block is still needed."""
        async with self._refresh_lock:
            if self._generation == seen_generation:
                log.info("upload %s: block grants expired, fetching fresh ones", self._upload_id)
                self._absorb(await self._client.upload_status(self._upload_id))
                self._generation += 1
        return block_id not in self._stored
