"""Streaming sync: fetching another device's large file while it is still being uploaded.

B learns that another device started an upload from the ``pending`` entry the
change feed carries (:class:`~client.sync.remote.feed.PendingUploads`); the daemon
then pokes the :class:`Prefetcher`, which asks ``GET /v1/uploads/incoming``
for the pending uploads of large files and stages each one it may take (blocks a local file holds already are left
to the download, which copies them):

- a staging file (a :class:`~client.transfer.download.temp.TempFile` in the folder's
  state directory, ``<state dir>/prefetch/``, never under the file's name) is
  filled with the upload's stored blocks, fetched with the get grants of
  ``GET /v1/uploads/incoming/{id}`` a few at once, each verified against its
  size and SHA-256 as a download verifies it; its progress is polled every
  :data:`POLL_INTERVAL` seconds (backing off up to :data:`POLL_MAX` while nothing
  new is stored) until every block is staged or the session is no longer
  offered; the list itself is looked at again every :data:`LIST_INTERVAL`
  seconds while something is staged (backing off up to :data:`LIST_MAX`);
- when the commit arrives through the change feed, the download of that path
  and content hash :meth:`takes <Prefetcher.take>` the staged file (the
  staging stops once the block fetches under way end) and downloads only what
  is missing (see :mod:`client.transfer.download.staged`).

Nothing staged is ever visible in the folder: only the normal download's
checks and atomic rename make the file. Not staged: ignored paths, paths with
local changes not yet synced (the commit will be a conflict there), a local
file that already has the content, and anything past :data:`MAX_STAGED_BYTES`
in all or that would leave less than :data:`MIN_FREE_BYTES` free. A staging
file whose upload is no longer offered (committed, abandoned, expired) and is
not taken within :data:`KEEP_AFTER_GONE` seconds (``SyncSettings.prefetch_keep``) is removed, as is one
superseded by a newer upload of the same path or by another commit (or a
deletion) of the path, every staging file when the
daemon stops, and any left over by a crash when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from client.api.incoming import IncomingUpload
from client.api.models import RemoteBlock
from client.sync.local import disk
from client.sync.local.ignore import IgnoreRules
from client.sync.plan.tree import FILE
from client.sync.state.database import Offload, SyncState
from client.transfer.download.staged import StagedBlock, StagedPart
from client.transfer.download.temp import BlockSink, TempFile
from protocol import paths
from protocol.errors import NotFound, TesseraError, Unauthorized

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)

#: the staging folder's name in the folder's state directory
PREFETCH_DIR = "prefetch"
#: seconds between two looks at a pending upload's progress (more while nothing new is stored)
POLL_INTERVAL = 0.2
POLL_MAX = 10.0
#: seconds between two looks at the list of pending uploads while something is staged (doubling
#: up to LIST_MAX while the change feed brings no news of uploads)
LIST_INTERVAL = 1.0
LIST_MAX = 30.0
#: bytes staged at most, over all pending uploads
MAX_STAGED_BYTES = 8 << 30
#: bytes left free on the staging file system at least
MIN_FREE_BYTES = 1 << 30
#: a staging file whose upload is no longer offered is removed after this many seconds
KEEP_AFTER_GONE = 120.0
#: block fetches of one staging at once
FETCHES = 4
#: failed fetches of one block before the prefetch leaves it to the download
BLOCK_ATTEMPTS = 2

class _Staging:
    """One pending upload being staged."""

    def __init__(self, upload: IncomingUpload) -> None:
        self.upload = upload
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


def wait_before_next_look(looked_at: float, delay: float, now: float) -> float:
    """Seconds to wait before looking at an upload's progress again: ``delay`` after the last
    look *began*, not after its blocks were handed out to the fetches. While the fetches drain
    their slots more blocks are stored; waiting the whole delay on top of the draining left B a
    look's worth of blocks behind the upload at its commit. Looks never come closer together
    than ``delay``, as before."""
    return max(0.0, looked_at + delay - now)


class Prefetcher:
    """Stages other devices' pending uploads for one synced folder (see the module docstring)."""

    def __init__(
        self,
        client: TesseraClient,
        state: SyncState,
        state_dir: Path,
        *,
        root: Path,
        offload: Offload,
        rules: Callable[[], IgnoreRules],
        max_bytes: int = MAX_STAGED_BYTES,
        keep_after_gone: float = KEEP_AFTER_GONE,
    ) -> None:
        self.client = client
        self.state = state
        self.dir = Path(state_dir) / PREFETCH_DIR
        self.root = root
        self._offload = offload
        self._rules = rules
        self._max_bytes = max_bytes
        self._keep = keep_after_gone
        self._stagings: dict[str, _Staging] = {}  # by upload id
        self._poke = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._news = False
        self._interval = LIST_INTERVAL
        self._closed = False

    # -- the daemon's side ----------------------------------------------------------------------

    async def start(self) -> None:
        """Empty the staging folder (what a crash left) and create it."""
        await self._offload(_fresh_dir, self.dir)

    def poke(self) -> None:
        """The change feed reported uploads in progress elsewhere: look for pending uploads soon."""
        self._news = True
        self._poke.set()

    async def run(self) -> None:
        """Look for pending uploads whenever poked, and while any may still come (a task)."""
        while True:
            await self._poke.wait()
            self._poke.clear()
            self._interval = LIST_INTERVAL if self._news else min(LIST_MAX, self._interval * 2)
            self._news = False
            for step in (self.look, self._expire):
                try:
                    await step()
                except Unauthorized:
                    raise
                except TesseraError as e:
                    log.debug("cannot list pending uploads: %s", e.message)
                except Exception:  # a prefetch is only a head start: never stop the daemon for one
                    log.exception("prefetch failed; trying again later")
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._stagings:  # keep watching: new uploads, sessions ending, stagings expiring
                self._timer = asyncio.get_running_loop().call_later(self._interval, self._poke.set)

    async def take(self, path: str, content_hash: str) -> StagedPart | None:
        """The staged file of ``path`` with this content, handed over to its download (or None).

        The staging stops fetching; the caller owns the file from now on.
        """
        key = paths.path_key(path)
        found = next(
            (s for s in self._stagings.values() if s.key == key and s.upload.content_hash == content_hash),
            None,
        )
        if found is None:
            return None
        del self._stagings[found.upload.upload_id]
        await self._stop(found)
        log.info(
            "%s: %d of %d blocks were fetched before the commit",
            path,
            len(found.blocks),
            found.upload.block_count,
        )
        return found.staged

    async def close(self) -> None:
        """Stop every staging and remove its file."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        stagings, self._stagings = list(self._stagings.values()), {}
        for s in stagings:
            await self._stop(s)
            await asyncio.shield(self._offload(s.staged.part.discard))

    def staged(self) -> dict[str, list[int]]:
        """The indexes of the blocks staged so far, by path of the pending upload."""
        out = {}
        for s in self._stagings.values():
            with s.lock:  # worker threads add to it
                out[s.upload.path] = sorted(s.blocks)
        return out

    @property
    def staged_bytes(self) -> int:
        return sum(s.upload.size for s in self._stagings.values())

    # -- finding pending uploads ------------------------------------------------------------------

    async def look(self) -> None:
        """List the pending uploads now; stage the new ones that may be staged."""
        uploads = await self.client.incoming_uploads()
        offered = {u.upload_id for u in uploads}
        now = asyncio.get_running_loop().time()
        for s in self._stagings.values():
            if s.upload.upload_id not in offered and s.gone_at is None:
                s.gone_at = now
        for u in uploads:
            if u.upload_id in self._stagings or self._closed:
                continue
            if not await self._wanted(u):
                continue
            for old in [s for s in self._stagings.values() if s.key == paths.path_key(u.path) and s.gone_at]:
                await self._drop(old, "superseded by a newer upload")
            staging = _Staging(u)
            base = await self._offload(self.state.node, "remote", u.path)
            staging.base_rev = base.rev if base is not None else None
            part = await self._offload(_staging_file, self.dir, u.size, staging.record)
            staging.staged = StagedPart(part, u.size, u.content_hash, staging.blocks)
            self._stagings[u.upload_id] = staging
            staging.task = asyncio.create_task(self._stage(staging), name=f"prefetch {u.path}")
            log.info("prefetching %s (%d bytes) while another device uploads it", u.path, u.size)

    async def _wanted(self, u: IncomingUpload) -> bool:
        if u.block_count < 2 or not _plausible(u):
            return False
        try:
            path = paths.normalize(u.path)
        except TesseraError:
            return False
        if self._rules().is_ignored(path.lstrip("/"), False):
            return False
        if self.staged_bytes + u.size > self._max_bytes:
            log.debug("not prefetching %s: %d bytes are staged already", path, self.staged_bytes)
            return False
        return bool(await self._offload(_may_stage, self.state, self.dir, path, u.content_hash, u.size))

    async def _expire(self) -> None:
        now = asyncio.get_running_loop().time()
        for s in list(self._stagings.values()):
            if s.gone_at is not None and now - s.gone_at > self._keep:
                await self._drop(s, "its upload is no longer offered")
                continue
            node = await self._offload(self.state.node, "remote", s.upload.path)
            rev = node.rev if node is not None else None
            if rev != s.base_rev and (node is None or node.content_hash != s.upload.content_hash):
                # another commit (or a deletion) came first: this upload conflicts or was abandoned
                await self._drop(s, "the file changed on the server meanwhile")

    async def _drop(self, s: _Staging, why: str) -> None:
        if self._stagings.pop(s.upload.upload_id, None) is None:
            return
        log.info("removed the prefetched part of %s: %s", s.upload.path, why)
        await self._stop(s)
        await asyncio.shield(self._offload(s.staged.part.discard))

    async def _stop(self, s: _Staging) -> None:
        s.stopping = True
        s.wake.set()
        if s.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(s.task)

    # -- staging one upload -------------------------------------------------------------------------

    async def _stage(self, s: _Staging) -> None:
        """Fetch the upload's stored blocks as they are stored, until all are staged or it is gone."""
        fetches: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(FETCHES)
        delay = POLL_INTERVAL
        loop = asyncio.get_running_loop()
        try:
            while not s.stopping and not s.complete:
                polled_at = loop.time()
                try:
                    blocks, servers = await self._stored_blocks(s)
                except NotFound:
                    s.gone_at = s.gone_at or asyncio.get_running_loop().time()
                    break
                except TesseraError as e:
                    log.debug("cannot read the progress of %s: %s", s.upload.path, e.message)
                    blocks, servers = [], []
                new = [
                    b
                    for b in blocks
                    if b.index not in s.blocks
                    and b.index not in s.fetching
                    and b.index not in s.local
                    and s.failures.get(b.index, 0) < BLOCK_ATTEMPTS
                ]
                if new:
                    held = await self._offload(_held_locally, self.root, self.state, new)
                    s.local.update(held)
                    new = [b for b in new if b.index not in held]
                for b in new:
                    s.fetching.add(b.index)
                    await slots.acquire()
                    if s.stopping:
                        slots.release()
                        s.fetching.discard(b.index)
                        break
                    task = asyncio.create_task(self._fetch(s, b, servers, slots))
                    fetches.add(task)
                    task.add_done_callback(fetches.discard)
                delay = POLL_INTERVAL if new else min(POLL_MAX, delay * 1.5)
                s.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(s.wake.wait(), wait_before_next_look(polled_at, delay, loop.time()))
        finally:
            if fetches:
                await asyncio.gather(*fetches, return_exceptions=True)

    async def _stored_blocks(self, s: _Staging) -> tuple[list[RemoteBlock], list[str]]:
        """The stored blocks not yet staged, from the first index not staged on."""
        start = 0
        while start in s.blocks or start in s.fetching:
            start += 1
        out: list[RemoteBlock] = []
        servers: list[str] = []
        while start < s.upload.block_count:
            page = await self.client.incoming_blocks(s.upload.upload_id, start=start)
            if (page.size, page.content_hash, page.total) != (
                s.upload.size,
                s.upload.content_hash,
                s.upload.block_count,
            ):
                raise NotFound("the pending upload changed")  # never: a session's block list is fixed
            servers = page.block_servers
            out += page.stored
            if not page.indexes:
                break
            start = page.indexes[-1] + 1
        return out, servers

    async def _fetch(
        self, s: _Staging, block: RemoteBlock, servers: list[str], slots: asyncio.Semaphore
    ) -> None:
        try:
            pieces = await self.client.get_block_pieces(
                servers, block.index, block.block_id, block.grant, block.size
            )
            # the default threads, as a download's: the daemon's own workers stay free for its state
            problem = await asyncio.to_thread(s.staged.part.write_verified, block, pieces)
            del pieces
        except (TesseraError, OSError, ValueError) as e:  # ValueError: the staging was closed meanwhile
            problem = getattr(e, "message", None) or str(e)
        finally:
            slots.release()
            s.fetching.discard(block.index)
        if problem:
            s.failures[block.index] = s.failures.get(block.index, 0) + 1
            log.info("prefetch of block %d of %s failed: %s", block.index, s.upload.path, problem)


def _held_locally(root: Path, state: SyncState, blocks: list[RemoteBlock]) -> set[int]:
    """The indexes of ``blocks`` that a local file holds (by the daemon's block index; blocking)."""
    return {b.index for b in blocks if disk.find_local_block(root, state, b) is not None}


def _plausible(u: IncomingUpload) -> bool:
    return u.size > 0 and len(u.content_hash) == 64 and u.block_count > 0


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _staging_file(folder: Path, size: int, on_block: BlockSink) -> TempFile:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return TempFile(folder / "staged", size, on_block)


def _may_stage(state: SyncState, folder: Path, path: str, content_hash: str, size: int) -> bool:
    """Whether a pending upload of ``path`` is worth staging here (blocking; see the module docstring)."""
    local = state.node("local", path)
    if local is not None:
        synced = state.node("synced", path)
        if local.kind != FILE or local.content_hash == content_hash:
            return False  # a folder there (a conflict to come), or the content is here already
        if synced is None or synced.content_hash != local.content_hash:
            return False  # changed here and not uploaded yet: the commit will be a conflict
    for parent in paths.ancestors(path):
        node = state.node("local", parent)
        if node is not None and node.kind == FILE:
            return False
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return False
    return free - size >= MIN_FREE_BYTES and os.access(folder, os.W_OK)
