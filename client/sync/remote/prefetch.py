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
  :data:`~client.sync.remote.staging.POLL_INTERVAL` seconds (backing off while nothing
  new is stored) until every block is staged or the session is no longer
  offered (a :class:`~client.sync.remote.staging.Staging` each); the list itself is looked at again every :data:`LIST_INTERVAL`
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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from client.sync.local.ignore import IgnoreRules
from client.sync.plan.tree import FILE
from client.sync.state.database import SyncState
from client.transfer.concurrency import Offload
from client.transfer.download.staged import StagedPart
from client.transfer.download.temp import BlockSink, TempFile
from protocol import paths
from protocol.errors import TesseraError, Unauthorized
from protocol.messages.incoming import IncomingUpload

from .staging import Staging

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)

#: the staging folder's name in the folder's state directory
PREFETCH_DIR = "prefetch"
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
        self._stagings: dict[str, Staging] = {}  # by upload id
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
            staging = Staging(u, self.client, self.state, self.root, self._offload)
            base = await self._offload(self.state.node, "remote", u.path)
            staging.base_rev = base.rev if base is not None else None
            part = await self._offload(_staging_file, self.dir, u.size, staging.record)
            staging.staged = StagedPart(part, u.size, u.content_hash, staging.blocks)
            self._stagings[u.upload_id] = staging
            staging.task = asyncio.create_task(staging.run(), name=f"prefetch {u.path}")
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

    async def _drop(self, s: Staging, why: str) -> None:
        if self._stagings.pop(s.upload.upload_id, None) is None:
            return
        log.info("removed the prefetched part of %s: %s", s.upload.path, why)
        await self._stop(s)
        await asyncio.shield(self._offload(s.staged.part.discard))

    async def _stop(self, s: Staging) -> None:
        s.stopping = True
        s.wake.set()
        if s.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(s.task)

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
