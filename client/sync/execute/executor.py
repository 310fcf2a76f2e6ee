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
:class:`~client.transfer.upload.journal.UploadJournal`; uploads and downloads of many small files
go in batches (:mod:`client.sync.execute.batch`); a download copies the blocks a local file already holds
(:meth:`SyncState.find_local_block`) instead of fetching them, and takes over
the blocks :mod:`client.sync.remote.prefetch` fetched while another device was still
uploading the file. The single-file upload and download are in
:mod:`client.sync.execute.single` (a mixin of :class:`Executor`); this module
holds the dispatch of a plan's actions, its phases and their results.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from client.api.errors import FileChanged
from client.sync.local import disk
from client.sync.local.disk import LocalChanged
from client.sync.local.ignore import IgnoreRules
from client.sync.local.watch import OwnWrites
from client.sync.plan.reconcile import (
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
from client.sync.plan.tree import FILE, FOLDER, Node
from client.sync.remote.feed import Offload, PendingUploads
from client.sync.settings import SyncSettings
from client.sync.state.database import LocalEntry, RemoteEntry, StateError, SyncState
from client.sync.status import SyncStatus
from client.transfer.concurrency import bounded_map
from client.transfer.upload.journal import UploadJournal
from protocol import paths
from protocol.errors import (
    AlreadyExists,
    BadPath,
    Conflict,
    IsAFolder,
    NotAFolder,
    NotFound,
    TesseraError,
    Unauthorized,
)

from . import batch as batches
from .remote_delete import RemoteChanged, RemoteDeleter
from .single import SingleTransfers, _record_remote_and_synced

if TYPE_CHECKING:
    from client.sync.remote.prefetch import Prefetcher
    from client.transfer.client import TesseraClient

log = logging.getLogger(__name__)
T = TypeVar("T")


#: phases whose actions run one by one, in plan order
_SEQUENTIAL = (Phase.CASE_RENAME, Phase.SET_ASIDE, Phase.DELETE_FOLDERS)


class Outcome(enum.Enum):
    DONE = "done"
    #: the disk is not what the plan expected: rescan, then plan again
    LOCAL_CHANGED = "local_changed"
    #: the server is not what the plan expected: pull, then plan again
    REMOTE_CHANGED = "remote_changed"
    #: failed (network, server, disk); retried later
    FAILED = "failed"
    #: the server refuses it for good (e.g. a name it does not accept): reported, not retried
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Result:
    action: Action
    outcome: Outcome
    code: str = ""
    message: str = ""


def action_name(action: Action) -> str:
    return type(action).__name__


def _classify(err: BaseException) -> tuple[Outcome, str]:
    """The outcome of an action that raised ``err`` (and the error code to report)."""
    if isinstance(err, (LocalChanged, FileChanged, FileExistsError, FileNotFoundError, NotADirectoryError)):
        return Outcome.LOCAL_CHANGED, getattr(err, "code", "") or "local_changed"
    if isinstance(err, RemoteChanged):
        return Outcome.REMOTE_CHANGED, "remote_changed"
    if isinstance(err, (Conflict, AlreadyExists, NotFound, NotAFolder, IsAFolder)):
        return Outcome.REMOTE_CHANGED, err.code
    if isinstance(err, BadPath):
        return Outcome.REFUSED, err.code
    if isinstance(err, TesseraError):
        return Outcome.FAILED, err.code
    if isinstance(err, StateError):
        return Outcome.FAILED, "state_error"
    if isinstance(err, OSError):
        return Outcome.FAILED, errno.errorcode.get(err.errno or 0, "os_error")
    raise err


class Executor(SingleTransfers):
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
        self.root = root
        self.state = state
        self.client = client
        self.settings = settings
        self.status = status
        self.pending = pending
        self._rules = rules
        self._offload = offload
        self._journal = journal
        self._own_writes = own_writes
        self._prefetcher = prefetcher
        self._deleter = RemoteDeleter(client, state, offload, device)
        #: a download failed: its temp file may have been carried off (a folder renamed under it)
        #: where the download could not remove it; the daemon sweeps them before its next scan
        self.stray_temp_files = False
        #: transfers at once over every run of this executor (a round and the runs beside it)
        self._transfer_slots = asyncio.Semaphore(settings.transfers)

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
            outcome, code = _classify(err)
            message = getattr(err, "message", None) or str(err)
            return self._report(Result(action, outcome, code, message))
        return Result(action, Outcome.DONE)

    @staticmethod
    def _report(result: Result) -> Result:
        level = (
            logging.INFO
            if result.outcome in (Outcome.LOCAL_CHANGED, Outcome.REMOTE_CHANGED)
            else logging.WARNING
        )
        log.log(
            level,
            "%s %s: %s (%s)",
            action_name(result.action),
            result.action.path,
            result.message,
            result.code,
        )
        return result

    async def _do(self, a: Action) -> None:  # noqa: C901 - one branch per action type
        if isinstance(a, Upload):
            await self._upload(a)
        elif isinstance(a, Download):
            await self._download(a)
        elif isinstance(a, MkdirLocal):
            entry = await self._offload(disk.make_folder, self.root, a.path)
            await self._offload(_record_local_and_synced, self.state, entry, Node(FOLDER, a.path))
            log.info("created folder %s", a.path)
        elif isinstance(a, MkdirRemote):
            await self._mkdir_remote(a)
        elif isinstance(a, DeleteLocal):
            await self._delete_local(a)
        elif isinstance(a, DeleteRemote):
            await self._delete_remote(a)
        elif isinstance(a, MoveLocal):
            await self._offload(disk.rename, self.root, a.src, a.dst, a.kind)
            await self._offload(_move_in, self.state, ("local", "synced"), a.src, a.dst)
            log.info("moved %s to %s", a.src, a.dst)
        elif isinstance(a, MoveRemote):
            meta = await self.client.move(a.src, a.dst)
            await self._offload(_move_in, self.state, ("remote", "synced"), a.src, meta.path)
            log.info("moved %s to %s on the server", a.src, meta.path)
        elif isinstance(a, ConflictRename):
            await self._offload(disk.rename, self.root, a.path, a.new_path, a.kind)
            await self._offload(_move_in, self.state, ("local",), a.path, a.new_path)
            log.warning("conflict: %s changed on both sides; the local version is now %s", a.path, a.new_path)
        elif isinstance(a, RecordSynced):
            await self._offload(self.state.record_synced, a.node)
        elif isinstance(a, ForgetSynced):
            await self._offload(self.state.forget_synced, a.path)
        else:
            raise TypeError(f"unknown action {a!r}")

    # -- transfers ---------------------------------------------------------------------------------

    async def _transfers(self, actions: Sequence[Action]) -> list[Result]:
        books = [a for a in actions if isinstance(a, RecordSynced | ForgetSynced)]
        results = await self._bookkeeping(books) if books else []
        rest = [a for a in actions if not isinstance(a, RecordSynced | ForgetSynced)]
        uploads = [a for a in rest if isinstance(a, Upload)]
        downloads = [a for a in rest if isinstance(a, Download)]
        small, small_dl = await self._offload(batches.small_files, self.state, uploads, downloads)
        batched: list[Upload] = small if len(small) >= self.settings.batch_min else []
        batched_dl: list[Download] = small_dl if len(small_dl) >= self.settings.batch_min else []
        in_batch = set(batched) | set(batched_dl)
        singles = [a for a in rest if a not in in_batch]
        jobs: list[Callable[[], Awaitable[list[Result]]]] = [
            (lambda chunk=chunk: batches.upload_small(self, chunk))
            for chunk in _chunks(batched, batches.BATCH_FILES)
        ]
        jobs += [
            (lambda chunk=chunk: batches.download_small(self, chunk))
            for chunk in _chunks(batched_dl, batches.BATCH_FILES)
        ]
        jobs += [(lambda a=a: self._single(a)) for a in singles]
        out: list[Result] = []

        async def run(job: Callable[[], Awaitable[list[Result]]]) -> None:
            async with self._transfer_slots:
                out.extend(await job())

        await bounded_map(jobs, run, limit=self.settings.transfers)
        return results + out

    async def _bookkeeping(self, actions: list[Action]) -> list[Result]:
        """Synced-tree records (no I/O but SQLite): all in one worker-thread call."""
        await self._offload(_record_all, self.state, actions)
        return [Result(a, Outcome.DONE) for a in actions]

    async def _single(self, action: Action) -> list[Result]:
        return [await self._one(action)]

    # -- folders and deletions ---------------------------------------------------------------------

    async def _mkdir_remote(self, a: MkdirRemote) -> None:
        try:
            meta = await self.client.mkdir(a.path)
        except AlreadyExists:
            meta = await self.client.meta(a.path)  # created elsewhere meanwhile: fine if a folder
            if not meta.is_folder:
                raise
        await self._offload(_record_remote_and_synced, self.state, RemoteEntry(meta.path, FOLDER))
        log.info("created folder %s on the server", meta.path)

    async def _delete_remote(self, a: DeleteRemote) -> None:
        await self._deleter.delete(a)
        await self._offload(_forget_subtree, self.state, ("remote", "synced"), a.path)
        log.info("deleted %s on the server", a.path)

    async def _delete_local(self, a: DeleteLocal) -> None:
        if a.kind == FILE:
            await self._offload(disk.delete_file, self.root, self.state, a.path, a.content_hash)
        else:
            kept = await self._offload(disk.delete_folder, self.root, a.path, self._rules())
            if kept is not None:
                # only ignored entries are left in it: they and the folder stay, the folder
                # becomes a new local folder (and is created on the server again)
                await self._offload(self.state.forget_synced, a.path)
                log.warning(
                    "kept folder %s: it holds entries .tesseraignore keeps out of sync (%s)",
                    a.path,
                    ", ".join(kept.names[:5]),
                )
                return
        await self._offload(_forget_entry, self.state, a.path)
        log.info("deleted %s", a.path)


# -- small helpers run in worker threads --------------------------------------------------------------


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _record_all(state: SyncState, actions: list[Action]) -> None:
    for a in actions:
        if isinstance(a, RecordSynced):
            state.record_synced(a.node)
        elif isinstance(a, ForgetSynced):
            state.forget_synced(a.path)


def _record_local_and_synced(state: SyncState, entry: LocalEntry, node: Node) -> None:
    state.put_local(entry)
    state.record_synced(node)


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


def _forget_entry(state: SyncState, path: str) -> None:
    state.delete("local", path)
    state.forget_synced(path)


def _forget_subtree(state: SyncState, trees: tuple[str, ...], path: str) -> None:
    for tree in trees:
        state.delete(tree, path, subtree=True)  # type: ignore[arg-type]


def _move_in(state: SyncState, trees: tuple[str, ...], src: str, dst: str) -> None:
    for tree in trees:
        state.move(tree, src, dst)  # type: ignore[arg-type]
