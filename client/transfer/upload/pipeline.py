"""Sending a big file's first blocks while the rest of it is still being hashed.

Hashing a file before its session opens costs a whole pass over it before the
first byte goes out: 1.2 s for 1 GiB on the benchmark machine, a minute for
50 GB. For a file of :data:`MIN_BLOCKS` blocks or more, :func:`hash_and_send`
overlaps the two instead:

1. the blocks are hashed in order (MD5, SHA-256, xxh3), ``buffers.count`` at a
   time in worker threads, as :func:`client.transfer.upload.blocks.hash_blocks` does;
2. once the first :data:`FIRST_PART` are hashed, the session is opened with
   them (``"blocks_complete": false``);
3. each time :data:`PART` more are hashed (or a quarter of those listed so
   far, whichever is more, so a 50 GB file takes about 30 parts, not 800; at
   most :data:`MAX_PART`), they are listed (``POST /v1/uploads/{id}/blocks``;
   the last part carries the content hash, which the server checks);
4. each part's needed blocks are sent as soon as its answer comes
   (:meth:`~client.transfer.upload.blocks.BlockSender.send_part`), beside the hashing
   and the other parts: the buffers bound how many blocks are read at once.

Once the last part is listed (and the file found unchanged since it was
opened, as :meth:`~client.transfer.filehash.LocalFile.finish_hash` checks),
``on_listed`` gets the file's hash and the session, while the last blocks are
still on the wire: the caller journals the session there, so that an upload
interrupted from then on resumes it. When :func:`hash_and_send` returns, every
needed block is sent; the caller commits. A failure anywhere cancels the rest
and is raised; a session that was never completed just expires. A session
found gone meanwhile (an upload that outlives the session, 24 h by default) is
started over by the caller the ordinary way (hash, then list whole), the
blocks stored so far re-used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from client.transfer.buffers import BlockBuffers
from client.transfer.concurrency import bounded_map
from client.transfer.filehash import FileHash, HashedBlock, LocalFile
from client.transfer.progress import UPLOAD, Progress
from protocol.errors import ProtocolError
from protocol.hashing import BlockHash, block_count, content_hash
from protocol.messages.uploads import UploadSession

from .blocks import BlockSender, HashedSoFar

if TYPE_CHECKING:
    from client.api.client import ApiClient

log = logging.getLogger(__name__)

#: files of at least this many blocks are sent while they are hashed (32 MiB)
MIN_BLOCKS = 8
#: blocks hashed before the session opens
FIRST_PART = 4
#: blocks hashed before the next part is listed (the part then takes all hashed so far) ...
PART = 16
#: ... or a quarter of the blocks listed so far, if that is more, up to this (the server's limit)
MAX_PART = 10_000


@dataclass(frozen=True, slots=True)
class SessionTarget:
    """Where the session puts the file, and how."""

    remote_path: str
    mode: str
    parent_rev: int | None
    client_modified: float | None


class _Hasher:
    """Hashes the blocks in the background; tells how long a prefix is done."""

    def __init__(self, local: LocalFile, buffers: BlockBuffers) -> None:
        self._local = local
        self._buffers = buffers
        self.count = block_count(local.size)
        #: what the sender reads; blocks 0..ready-1 are all set
        self.so_far = HashedSoFar([None] * self.count, [None] * self.count)
        self.ready = 0  # blocks 0..ready-1 are hashed
        self._changed = asyncio.Condition()
        self._last_wake: asyncio.Future[None] | None = None  # held: the loop keeps tasks weakly
        self.task = asyncio.create_task(bounded_map(range(self.count), self._one, limit=buffers.count))
        self.task.add_done_callback(self._ended)

    def _ended(self, _task: asyncio.Task[None]) -> None:
        # a failed or finished hashing wakes the waiters (they look at the task)
        self._last_wake = asyncio.ensure_future(self._wake())

    async def _one(self, index: int) -> None:
        async with self._buffers.take() as buf:
            block = await asyncio.to_thread(self._local.hash_block_at, index, buf)
        self.so_far.blocks[index], self.so_far.xxh3[index] = block.wire, block.xxh3
        await self._wake()

    async def _wake(self) -> None:
        async with self._changed:
            while self.ready < self.count and self.so_far.blocks[self.ready] is not None:
                self.ready += 1
            self._changed.notify_all()

    async def wait_for(self, n: int) -> int:
        """Wait until at least ``n`` blocks (in order) are hashed; how many are. Raises what the
        hashing raised."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.ready >= n or self.task.done())
        if self.task.done() and self.task.exception() is not None:
            raise self.task.exception()  # type: ignore[misc]
        return self.ready

    def hashed(self, start: int, stop: int) -> list[HashedBlock]:
        """Blocks ``start..stop`` (all hashed: below :attr:`ready`)."""
        blocks, xxh3 = self.so_far.blocks[start:stop], self.so_far.xxh3[start:stop]
        return [HashedBlock(b, x) for b, x in zip(blocks, xxh3, strict=True) if b is not None and x is not None]


async def hash_and_send(
    client: ApiClient,
    local: LocalFile,
    target: SessionTarget,
    progress: Progress,
    buffers: BlockBuffers,
    on_listed: Callable[[FileHash, UploadSession], Awaitable[None]],
) -> tuple[FileHash, UploadSession, BlockSender]:
    """Hash ``local`` and send its needed blocks through a session opened with the first of them
    (see the module docstring); the file's hash, the session (as opened) and its sender."""
    hasher = _Hasher(local, buffers)
    sends: list[asyncio.Task[None]] = []
    try:
        progress.phase(UPLOAD, local.size)
        listed = 0
        session: UploadSession | None = None
        sender: BlockSender | None = None
        while listed < hasher.count:
            for send in sends:  # a part that failed fails the upload now, not after the hashing
                if send.done() and send.exception() is not None:
                    raise send.exception()  # type: ignore[misc]
            step = FIRST_PART if session is None else min(MAX_PART, max(PART, listed // 4))
            ready = min(await hasher.wait_for(min(hasher.count, listed + step)), listed + MAX_PART)
            blocks = [b.wire for b in hasher.hashed(listed, ready)]
            last = ready == hasher.count
            whole = content_hash(b.sha256 for b in hasher.so_far.blocks if b is not None) if last else None
            if session is None:
                session = answer = await _open_session(client, target, local.size, blocks, whole, last)
                sender = BlockSender(client, local, hasher.so_far, session, progress, buffers)
            else:
                answer = await client.append_upload_blocks(session.upload_id, listed, blocks, content_hash=whole)
            if last and answer.content_hash != whole:
                raise ProtocolError("the server computed another content hash for the block list")
            assert sender is not None
            sends.append(asyncio.create_task(sender.send_part(answer)))
            listed = ready
        assert session is not None and sender is not None
        await hasher.task
        hashed = await asyncio.to_thread(local.finish_hash, hasher.hashed(0, hasher.count))
        await on_listed(hashed, session)
        for send in sends:
            await send
        log.debug("upload %s: %d blocks listed in %d parts while hashing", session.upload_id, listed, len(sends))
        return hashed, session, sender
    except BaseException:
        for task in [hasher.task, *sends]:
            task.cancel()
        for task in [hasher.task, *sends]:
            with contextlib.suppress(BaseException):
                await task
        raise


async def _open_session(
    client: ApiClient, target: SessionTarget, size: int, blocks: list[BlockHash], whole: str | None, last: bool
) -> UploadSession:
    """The session, opened with the first part of the block list (the whole of it if ``last``)."""
    session = await client.create_upload(
        target.remote_path,
        size,
        blocks,
        content_hash=whole,
        mode=target.mode,
        parent_rev=target.parent_rev,
        client_modified=target.client_modified,
        blocks_complete=last,
    )
    if session.size != size:
        raise ProtocolError("the upload session does not describe the file that was announced")
    return session
