"""Carrying out a sync plan against the disk and the server, and recording each result.

:class:`Executor` runs the actions of :func:`client.sync.plan.reconcile.plan` phase
by phase (the plan is already in phase order). Inside a phase, actions are
independent: transfers run :attr:`SyncSettings.transfers` at a time (over every
run of the executor at once: a round and the runs started beside it), file
deletions, moves and remote changes :attr:`SyncSettings.operations` at a time;
folder creations level by level (the folders of one depth at once, as many at a
time; a new remote folder with uploads below it after the transfers, as the
uploads' commits create it on the server anyway); case renames, conflict
renames and folder deletions run one by one in the plan's (depth) order.

After an action succeeds its result is written to the trees exactly as the
action's docstring says (the contract the simulator in
``tests/client/sync/plan/test_simulator.py`` checks), so planning again gives no
action for it. Every action re-checks what it relies on right before acting:
a download never replaces a file whose content is not the one it expects, a
local deletion never removes a changed file or a non-empty folder, a remote
one does not take along what changed there since the last pull
(:mod:`client.sync.execute.remote_delete`), a rename never
replaces anything, an upload commits only on top of the revision it was
planned against (modes ``add``/``update``). When such a check fails the
action is skipped with :attr:`Outcome.LOCAL_CHANGED` or
:attr:`Outcome.REMOTE_CHANGED`; the daemon rescans or pulls and plans again,
and the plan then sees the change (possibly as a conflict).

Uploads resume an interrupted session through the folder's
:class:`~client.transfer.upload.journal.UploadJournal`; a download copies the blocks a local
file already holds (:meth:`SyncState.find_local_block`) instead of fetching them, and takes over
the blocks :mod:`client.sync.remote.prefetch` fetched while another device was still
uploading the file. The executor holds its parts: :class:`SingleTransfers` (one file up or down,
:mod:`client.sync.execute.single`), :class:`BatchTransfers` (many small files,
:mod:`client.sync.execute.batch`) and :class:`RemoteDeleter`
(:mod:`client.sync.execute.remote_delete`), all acting on one :class:`SyncedFolder`; this module
holds the dispatch of a plan's actions and its phases. What each action came to is a
:class:`~client.sync.execute.results.Result`; what it records, :mod:`client.sync.execute.records`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from client.sync.local import disk
from client.sync.local.disk import LocalChanged
from client.sync.local.ignore import IgnoreRules
from client.sync.local.watch import OwnWrites
from client.sync.plan.actions import (
    Action,
    ConflictRename,
    DeleteLocal,
    DeleteRemote,
    Download,
    ForgetSynced,
    MkdirLocal,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    Phase,
    RecordSynced,
    Upload,
)
from client.sync.plan.shares import notice
from client.sync.plan.tree import FILE, FOLDER, Node
from client.sync.remote.feed import PendingUploads
from client.sync.remote.prefetch import Prefetcher
from client.sync.settings import SyncSettings
from client.sync.state.database import RemoteEntry, StateError, SyncState
from client.sync.status import SyncStatus
from client.transfer.concurrency import Offload, bounded_map
from client.transfer.upload.journal import UploadJournal
from protocol import paths
from protocol.errors import AlreadyExists, TesseraError, Unauthorized

from . import records
from .batch import BATCH_FILES, BatchTransfers, small_files
from .folder import SyncedFolder
from .remote_delete import RemoteChanged, RemoteDeleter
from .results import Outcome, Result, failure
from .single import SingleTransfers

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)
T = TypeVar("T")


#: phases whose actions run one by one, in plan order
_SEQUENTIAL = (Phase.CASE_RENAME, Phase.SET_ASIDE, Phase.DELETE_FOLDERS)


class Executor:
    """Runs plans for one synced folder (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        state: SyncState,
        client: TesseraClient,
        *,
        device: str,
        settings: SyncSettings,
        status: SyncStatus,
        pending: PendingUploads,
        rules: Callable[[], IgnoreRules],
        offload: Offload,
        journal: UploadJournal | None = None,
        own_writes: OwnWrites | None = None,
        prefetcher: Prefetcher | None = None,
    ) -> None:
        self.folder = SyncedFolder(root, state, client, status, pending, offload, own_writes)
        self.settings = settings
        self._rules = rules
        self.single = SingleTransfers(self.folder, journal, prefetcher)
        self.batch = BatchTransfers(self.folder)
        self._deleter = RemoteDeleter(client, state, offload, device)
        #: transfers at once over every run of this executor (a round and the runs beside it)
        self._transfer_slots = asyncio.Semaphore(settings.transfers)

    @property
    def stray_temp_files(self) -> bool:
        """A download failed: its temp file may have been carried off (a folder renamed under it)
        where the download could not remove it; the daemon sweeps them before its next scan."""
        return self.folder.stray_temp_files

    @stray_temp_files.setter
    def stray_temp_files(self, value: bool) -> None:
        self.folder.stray_temp_files = value

    async def run(self, actions: Sequence[Action]) -> list[Result]:
        """Run the actions phase by phase; one result per action (Unauthorized stops everything)."""
        results: list[Result] = []
        deferred = _deferrable_mkdirs(actions)
        for phase, group in itertools.groupby(actions, key=lambda a: a.phase):
            batch = list(group)
            if phase == Phase.MKDIR:
                results += await self._mkdirs([a for a in batch if a not in deferred])
            elif phase in _SEQUENTIAL:
                for action in batch:
                    results.append(await self._one(action))
            elif phase == Phase.TRANSFER:
                results += await self._transfers(batch)
            else:
                results += await self._concurrently(batch, self.settings.operations)
        if deferred:
            # the uploads' commits created the folders above them (the server makes missing parents):
            # these find each one there and record it, off the path of the files to the other devices
            results += await self._mkdirs([a for a in actions if a in deferred])
        return results

    async def _mkdirs(self, actions: list[Action]) -> list[Result]:
        results: list[Result] = []
        # a run of folders at one depth is independent (their parents came before)
        for _depth, level in itertools.groupby(actions, key=lambda a: a.path.count("/")):
            results += await self._concurrently(list(level), self.settings.operations)
        return results

    async def _concurrently(self, actions: Sequence[Action], limit: int) -> list[Result]:
        results: list[Result] = []

        async def one(action: Action) -> None:
            results.append(await self._one(action))

        await bounded_map(actions, one, limit=limit)
        return results

    async def _one(self, action: Action) -> Result:
        try:
            await self._do(action)
        except Unauthorized:
            raise
        except (TesseraError, OSError, LocalChanged, RemoteChanged, StateError) as err:
            return failure(action, err)
        return Result(action, Outcome.DONE)

    async def _do(self, a: Action) -> None:  # noqa: C901 - one branch per action type
        f = self.folder
        if isinstance(a, Upload):
            await self._upload(a)
        elif isinstance(a, Download):
            await self._download(a)
        elif isinstance(a, MkdirLocal):
            entry = await f.offload(disk.make_folder, f.root, a.path)
            await f.offload(records.local_and_synced, f.state, entry, Node(FOLDER, a.path))
            log.info("created folder %s", a.path)
        elif isinstance(a, MkdirRemote):
            await self._mkdir_remote(a)
        elif isinstance(a, DeleteLocal):
            await self._delete_local(a)
        elif isinstance(a, DeleteRemote):
            await self._delete_remote(a)
        elif isinstance(a, MoveLocal):
            await f.offload(disk.rename, f.root, a.src, a.dst, a.kind)
            await f.offload(records.move_in, f.state, ("local", "synced"), a.src, a.dst)
            log.info("moved %s to %s", a.src, a.dst)
        elif isinstance(a, MoveRemote):
            meta = await f.client.move(a.src, a.dst)
            await f.offload(records.move_in, f.state, ("remote", "synced"), a.src, meta.path)
            log.info("moved %s to %s on the server", a.src, meta.path)
        elif isinstance(a, ConflictRename):
            if a.share:  # kept beside a share the user may not write (client.sync.plan.shares)
                await f.offload(disk.make_parents, f.root, a.new_path)
            await f.offload(disk.rename, f.root, a.path, a.new_path, a.kind)
            await f.offload(records.move_in, f.state, ("local",), a.path, a.new_path)
            if a.share:
                log.warning("%s", notice(a.share, a.reason, a.path, a.new_path))
            else:
                log.warning("conflict: %s changed on both sides; the local version is now %s", a.path, a.new_path)
        elif isinstance(a, RecordSynced):
            await f.offload(f.state.record_synced, a.node)
        elif isinstance(a, ForgetSynced):
            await f.offload(f.state.forget_synced, a.path)
        else:
            raise TypeError(f"unknown action {a!r}")

    # -- transfers ---------------------------------------------------------------------------------

    async def _upload(self, a: Upload) -> None:
        await self.single.upload(a)

    async def _download(self, a: Download) -> None:
        await self.single.download(a)

    async def _transfers(self, actions: Sequence[Action]) -> list[Result]:
        books = [a for a in actions if isinstance(a, RecordSynced | ForgetSynced)]
        results = await self._bookkeeping(books) if books else []
        rest = [a for a in actions if not isinstance(a, RecordSynced | ForgetSynced)]
        uploads = [a for a in rest if isinstance(a, Upload)]
        downloads = [a for a in rest if isinstance(a, Download)]
        small, small_dl = await self.folder.offload(small_files, self.folder.state, uploads, downloads)
        batched: list[Upload] = small if len(small) >= self.settings.batch_min else []
        batched_dl: list[Download] = small_dl if len(small_dl) >= self.settings.batch_min else []
        in_batch = set(batched) | set(batched_dl)
        singles = [a for a in rest if a not in in_batch]
        jobs: list[Callable[[], Awaitable[list[Result]]]] = [
            (lambda chunk=chunk: self.batch.upload(chunk)) for chunk in _chunks(batched, BATCH_FILES)
        ]
        jobs += [(lambda chunk=chunk: self._download_batch(chunk)) for chunk in _chunks(batched_dl, BATCH_FILES)]
        jobs += [(lambda a=a: self._single(a)) for a in singles]
        out: list[Result] = []

        async def run(job: Callable[[], Awaitable[list[Result]]]) -> None:
            async with self._transfer_slots:
                out.extend(await job())

        await bounded_map(jobs, run, limit=self.settings.transfers)
        return results + out

    async def _download_batch(self, actions: list[Download]) -> list[Result]:
        """A batch of small downloads; the files the batch leaves to single downloads follow it."""
        results, singles = await self.batch.download(actions)
        for a in singles:
            results.append(await self._one(a))
        return results

    async def _bookkeeping(self, actions: list[Action]) -> list[Result]:
        """Synced-tree records (no I/O but SQLite): all in one worker-thread call."""
        await self.folder.offload(records.bookkeeping, self.folder.state, actions)
        return [Result(a, Outcome.DONE) for a in actions]

    async def _single(self, action: Action) -> list[Result]:
        return [await self._one(action)]

    # -- folders and deletions ---------------------------------------------------------------------

    async def _mkdir_remote(self, a: MkdirRemote) -> None:
        f = self.folder
        try:
            meta = await f.client.mkdir(a.path)
        except AlreadyExists:
            meta = await f.client.meta(a.path)  # created elsewhere meanwhile: fine if a folder
            if not meta.is_folder:
                raise
        await f.offload(records.remote_and_synced, f.state, RemoteEntry(meta.path, FOLDER))
        log.info("created folder %s on the server", meta.path)

    async def _delete_remote(self, a: DeleteRemote) -> None:
        await self._deleter.delete(a)
        await self.folder.offload(records.forget_subtree, self.folder.state, ("remote", "synced"), a.path)
        log.info("deleted %s on the server", a.path)

    async def _delete_local(self, a: DeleteLocal) -> None:
        f = self.folder
        if a.kind == FILE:
            await f.offload(disk.delete_file, f.root, f.state, a.path, a.content_hash)
        else:
            kept = await f.offload(disk.delete_folder, f.root, a.path, self._rules())
            if kept is not None:
                # only ignored entries are left in it: they and the folder stay, the folder
                # becomes a new local folder (and is created on the server again)
                await f.offload(f.state.forget_synced, a.path)
                log.warning(
                    "kept folder %s: it holds entries .tesseraignore keeps out of sync (%s)",
                    a.path,
                    ", ".join(kept.names[:5]),
                )
                return
        await f.offload(records.forget_entry, f.state, a.path)
        log.info("deleted %s", a.path)


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _deferrable_mkdirs(actions: Sequence[Action]) -> set[Action]:
    """The remote folder creations that can wait until after the transfers.

    A commit creates the missing folders above its file on the server, so a new
    folder that gets uploads need not exist before them: its creation (then
    finding it there) runs after the transfer phase, and the first files reach
    the server and the other devices without waiting for one metadata
    transaction per folder. Only when the plan has nothing between the folder
    creations and the transfers (moves and folder deletions may need the
    folders), and only for folders with an upload below them.
    """
    if any(a.phase in (Phase.MOVE, Phase.DELETE_FOLDERS) for a in actions):
        return set()
    mkdirs = [a for a in actions if isinstance(a, MkdirRemote)]
    if not mkdirs:
        return set()
    above_uploads: set[str] = set()
    for a in actions:
        if isinstance(a, Upload):
            above_uploads.update(paths.path_key(p) for p in paths.ancestors(a.path))
    deferred = {a for a in mkdirs if a.key in above_uploads}
    # a folder created in its phase needs every folder above it there first
    needed = {paths.path_key(p) for a in mkdirs if a not in deferred for p in paths.ancestors(a.path)}
    return {a for a in deferred if a.key not in needed}
