"""Staging one pending upload of another device: its blocks fetched as they are stored.

:class:`~client.sync.remote.prefetch.Prefetcher` starts a :class:`Staging` for each pending upload
it may take. :meth:`Staging.run` looks at the upload's progress every :data:`POLL_INTERVAL`
seconds (backing off up to :data:`POLL_MAX` while nothing new is stored), fetches the stored
blocks it has not staged yet, :data:`FETCHES` at once, each verified as a download verifies it
and written into the staging file, and stops once every block is staged, the upload is no longer
offered, or the prefetcher stops it. Blocks a local file holds already are left to the download,
which copies them; a block that fails :data:`BLOCK_ATTEMPTS` times too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from client.sync.local import disk
from client.sync.state.database import SyncState
from client.transfer.concurrency import Offload
from client.transfer.download.staged import StagedBlock, StagedPart
from protocol import paths
from protocol.errors import NotFound, TesseraError
from protocol.messages.blocks import RemoteBlock
from protocol.messages.incoming import IncomingUpload

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)

#: seconds between two looks at a pending upload's progress (more while nothing new is stored)
POLL_INTERVAL = 0.2
POLL_MAX = 10.0
#: block fetches of one staging at once
FETCHES = 4
#: failed fetches of one block before the prefetch leaves it to the download
BLOCK_ATTEMPTS = 2


def wait_before_next_look(looked_at: float, delay: float, now: float) -> float:
    """Seconds to wait before looking at an upload's progress again: ``delay`` after the last
    look *began*, not after its blocks were handed out to the fetches. While the fetches drain
    their slots more blocks are stored; waiting the whole delay on top of the draining left B a
    look's worth of blocks behind the upload at its commit. Looks never come closer together
    than ``delay``, as before."""
    return max(0.0, looked_at + delay - now)


class Staging:
    """One pending upload being staged (see the module docstring)."""

    def __init__(
        self, upload: IncomingUpload, client: TesseraClient, state: SyncState, root: Path, offload: Offload
    ) -> None:
        self.upload = upload
        self.client = client
        self.state = state
        self.root = root
        self._offload = offload
        self.key = paths.path_key(upload.path)
        self.blocks: dict[int, StagedBlock] = {}
        self.staged: StagedPart  # once its file is created
        self.lock = threading.Lock()
        self.fetching: set[int] = set()
        #: indexes of blocks a local file holds already: the download copies them
        self.local: set[int] = set()
        self.failures: dict[int, int] = {}
        self.stopping = False
        self.wake = asyncio.Event()
        #: event-loop time the upload was found no longer offered
        self.gone_at: float | None = None
        self.task: asyncio.Task[None] | None = None
        #: the revision of the path in the remote tree when the staging began
        self.base_rev: int | None = None

    def record(self, block: RemoteBlock, xxh3_64: str) -> None:
        """The temp file's ``on_block``: a verified block was written (worker thread)."""
        with self.lock:
            self.blocks[block.index] = StagedBlock(block.sha256, block.size, xxh3_64)
            self.staged.note_written()  # set before the first fetch starts

    @property
    def complete(self) -> bool:
        return len(self.blocks) + len(self.local) >= self.upload.block_count

    async def run(self) -> None:
        """Fetch the upload's stored blocks as they are stored, until all are staged or it is gone."""
        fetches: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(FETCHES)
        delay = POLL_INTERVAL
        loop = asyncio.get_running_loop()
        try:
            while not self.stopping and not self.complete:
                polled_at = loop.time()
                try:
                    blocks, servers = await self._stored_blocks()
                except NotFound:
                    self.gone_at = self.gone_at or asyncio.get_running_loop().time()
                    break
                except TesseraError as e:
                    log.debug("cannot read the progress of %s: %s", self.upload.path, e.message)
                    blocks, servers = [], []
                new = [
                    b
                    for b in blocks
                    if b.index not in self.blocks
                    and b.index not in self.fetching
                    and b.index not in self.local
                    and self.failures.get(b.index, 0) < BLOCK_ATTEMPTS
                ]
                if new:
                    held = await self._offload(_held_locally, self.root, self.state, new)
                    self.local.update(held)
                    new = [b for b in new if b.index not in held]
                for b in new:
                    self.fetching.add(b.index)
                    await slots.acquire()
                    if self.stopping:
                        slots.release()
                        self.fetching.discard(b.index)
                        break
                    task = asyncio.create_task(self._fetch(b, servers, slots))
                    fetches.add(task)
                    task.add_done_callback(fetches.discard)
                delay = POLL_INTERVAL if new else min(POLL_MAX, delay * 1.5)
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), wait_before_next_look(polled_at, delay, loop.time()))
        finally:
            if fetches:
                await asyncio.gather(*fetches, return_exceptions=True)

    async def _stored_blocks(self) -> tuple[list[RemoteBlock], list[str]]:
        """The stored blocks not yet staged, from the first index not staged on."""
        start = 0
        while start in self.blocks or start in self.fetching:
            start += 1
        out: list[RemoteBlock] = []
        servers: list[str] = []
        while start < self.upload.block_count:
            page = await self.client.incoming_blocks(self.upload.upload_id, start=start)
            if (page.size, page.content_hash, page.total) != (
                self.upload.size,
                self.upload.content_hash,
                self.upload.block_count,
            ):
                raise NotFound("the pending upload changed")  # never: a session's block list is fixed
            servers = page.block_servers
            out += page.stored
            if not page.indexes:
                break
            start = page.indexes[-1] + 1
        return out, servers

    async def _fetch(self, block: RemoteBlock, servers: list[str], slots: asyncio.Semaphore) -> None:
        try:
            pieces = await self.client.get_block_pieces(
                servers, block.index, block.block_id, block.grant, block.size
            )
            # the default threads, as a download's: the daemon's own workers stay free for its state
            problem = await asyncio.to_thread(self.staged.part.write_verified, block, pieces)
            del pieces
        except (TesseraError, OSError, ValueError) as e:  # ValueError: the staging was closed meanwhile
            problem = getattr(e, "message", None) or str(e)
        finally:
            slots.release()
            self.fetching.discard(block.index)
        if problem:
            self.failures[block.index] = self.failures.get(block.index, 0) + 1
            log.info("prefetch of block %d of %s failed: %s", block.index, self.upload.path, problem)


def _held_locally(root: Path, state: SyncState, blocks: list[RemoteBlock]) -> set[int]:
    """The indexes of ``blocks`` that a local file holds (by the daemon's block index; blocking)."""
    return {b.index for b in blocks if disk.find_local_block(root, state, b) is not None}
