"""The small-file part of the sync executor: uploads and downloads in batches.

:class:`~client.sync.execute.executor.Executor` hands the small files of a transfer phase
(at most :data:`client.transfer.upload.batch.SMALL_FILE_MAX` bytes, once at least
:attr:`SyncSettings.batch_min` are planned) to :meth:`BatchTransfers.upload` and
:meth:`BatchTransfers.download` in chunks of :data:`BATCH_FILES`; several chunks run at
once (up to :attr:`SyncSettings.transfers`), so the first files reach the other
device while the next are still being sent. Each file is checked before and
after as the single-file actions check it, and each chunk's results are
recorded in one state transaction.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TypeVar

import xxhash

from client.sync.local import disk
from client.sync.local.disk import LocalChanged
from client.sync.local.watch import OwnWrites
from client.sync.plan.actions import Download, Upload
from client.sync.plan.tree import FILE, Node
from client.sync.state.database import BlockRecord, LocalEntry, SyncState
from client.transfer.download.batch import BatchDownload, BatchDownloadResult, download_batch
from client.transfer.download.file import LocalBlock
from client.transfer.upload.batch import SMALL_FILE_MAX, BatchFile, BatchResult, upload_batch
from protocol.errors import TesseraError, Unauthorized
from protocol.messages.blocks import RemoteBlock

from . import records
from .folder import SyncedFolder
from .results import Outcome, Result, failure, report

log = logging.getLogger(__name__)

A = TypeVar("A", Upload, Download)

#: small files per upload or download batch: several batches run at once (up to
#: SyncSettings.transfers), and the first ones reach the other side while the next are sent
BATCH_FILES = 250


class BatchTransfers:
    """Uploads and downloads many small files of ``folder`` at once (see the module docstring)."""

    def __init__(self, folder: SyncedFolder) -> None:
        self.folder = folder

    async def upload(self, actions: list[Upload]) -> list[Result]:
        """Upload the files in one batch; one result per action."""
        f = self.folder
        todo, results = await self._checked(actions, "changed since the last scan")
        if not todo:
            return results
        for a in todo:
            f.pending.started_here(a.path)
        files = [
            BatchFile(
                disk.fs_path(f.root, a.path),
                a.path,
                mode="add" if a.parent_rev is None else "update",
                parent_rev=a.parent_rev,
            )
            for a in todo
        ]
        try:
            with f.status.transfer(f"{len(todo)} small files", "upload"):
                outcomes = await upload_batch(f.client, files)
        except Unauthorized:
            raise
        except TesseraError as err:
            return results + [failure(a, err) for a in todo]
        sent = await self._record_uploads(todo, outcomes, results)
        done = sum(1 for r in results if r.outcome == Outcome.DONE)
        log.info("uploaded %d of %d small files in one batch (%d blocks sent)", done, len(actions), sent)
        return results

    async def _record_uploads(
        self, todo: list[Upload], outcomes: list[BatchResult], results: list[Result]
    ) -> int:
        """Record the committed files in one transaction and add each file's result to ``results``;
        the blocks the recorded files sent."""
        committed = [
            (a, o.metadata) for a, o in zip(todo, outcomes, strict=True) if o.error is None and o.metadata
        ]
        problems = await self.folder.offload(records.uploads, self.folder.state, committed)
        sent = 0
        for a, o in zip(todo, outcomes, strict=True):
            if o.error is None and o.metadata is not None:
                problem = problems[a.path]
                if problem is not None:
                    results.append(failure(a, problem))
                    continue
                sent += o.blocks_sent
                results.append(Result(a, Outcome.DONE))
            else:
                assert o.error is not None
                results.append(failure(a, o.error))
        return sent

    async def download(self, actions: list[Download]) -> tuple[list[Result], list[Download]]:
        """Download the files in one batch (:mod:`client.transfer.download.batch`), each checked as
        a single download checks one and recorded as it records it. Returns the results, and the
        files the batch left to single downloads."""
        f = self.folder
        todo, results = await self._checked(actions, "changed on disk since the last scan")
        if not todo:
            return results, []
        indexed: dict[str, list[BlockRecord]] = {a.path: [] for a in todo}

        def on_block(file: BatchDownload, block: RemoteBlock, data: memoryview) -> None:
            # one writer thread
            indexed[file.remote_path].append(disk.index_block(block, xxhash.xxh3_64_hexdigest(data)))

        def local_block(block: RemoteBlock) -> LocalBlock | None:
            return disk.find_local_block(f.root, f.state, block)

        try:
            with f.status.transfer(f"{len(todo)} small files", "download"):
                outcomes = await download_batch(
                    f.client, self._targets(todo), local_blocks=local_block, on_block=on_block
                )
        except Unauthorized:
            raise
        except BaseException as err:
            f.stray_temp_files = True
            if not isinstance(err, TesseraError | OSError):
                raise
            return results + [failure(a, err) for a in todo], []
        return await self._record_downloads(todo, outcomes, indexed, results, len(actions))

    async def _checked(self, actions: list[A], changed: str) -> tuple[list[A], list[Result]]:
        """The actions whose file is still what the plan expected (an upload's file, a download's
        target), and a LOCAL_CHANGED result for each of the others."""
        f = self.folder
        checks = await f.offload(_check_files, f.root, f.state, actions)
        todo = [a for a, ok in zip(actions, checks, strict=True) if ok]
        results = [
            report(Result(a, Outcome.LOCAL_CHANGED, "local_changed", f"{a.path} {changed}"))
            for a, ok in zip(actions, checks, strict=True)
            if not ok
        ]
        return todo, results

    def _targets(self, todo: list[Download]) -> list[BatchDownload]:
        f = self.folder
        return [
            BatchDownload(
                a.path,
                a.rev,
                disk.fs_path(f.root, a.path),
                check_target=functools.partial(
                    _check_target, f.root, f.state, a.path, a.replaces, f.own_writes
                ),
                replace=a.replaces is not None,
            )
            for a in todo
        ]

    async def _record_downloads(
        self,
        todo: list[Download],
        outcomes: list[BatchDownloadResult],
        indexed: dict[str, list[BlockRecord]],
        results: list[Result],
        planned: int,
    ) -> tuple[list[Result], list[Download]]:
        rows: list[tuple[LocalEntry, list[BlockRecord], Node]] = []
        singles = []
        for a, r in zip(todo, outcomes, strict=True):
            if r.fallback:
                singles.append(a)
            elif r.error is not None:
                self.folder.stray_temp_files = True
                if not isinstance(r.error, TesseraError | OSError | LocalChanged):
                    raise r.error
                results.append(failure(a, r.error))
            elif r.page is None or r.page.content_hash != a.content_hash or r.stat is None:
                message = f"revision {a.rev} of {a.path} does not have the content the feed announced"
                results.append(report(Result(a, Outcome.FAILED, "internal", message)))
            else:
                entry = disk.downloaded_entry(a.path, a.content_hash, r.stat)
                blocks = sorted(indexed[a.path], key=lambda b: b.idx)
                rows.append((entry, blocks, Node(FILE, a.path, a.content_hash, a.rev)))
                results.append(Result(a, Outcome.DONE))
        await self.folder.offload(records.downloads, self.folder.state, rows)
        log.info("downloaded %d of %d small files in one batch", len(rows), planned)
        return results, singles


# -- helpers run in worker threads ------------------------------------------------------------


def small_files(
    state: SyncState, uploads: list[Upload], downloads: list[Download]
) -> tuple[list[Upload], list[Download]]:
    """The uploads and downloads of files small enough to batch."""
    up = []
    for a in uploads:
        entry = state.local_entry(a.path)
        if entry is not None and entry.size is not None and entry.size <= SMALL_FILE_MAX:
            up.append(a)
    down = []
    for d in downloads:
        remote = state.remote_entry(d.path)
        if remote is not None and remote.size is not None and remote.size <= SMALL_FILE_MAX:
            down.append(d)
    return up, down


def _check_files(root: Path, state: SyncState, actions: list[Upload] | list[Download]) -> list[bool]:
    """Whether each upload's file still has the content planned, each download's target still
    has the content it replaces."""
    return [
        disk.file_matches(root, state, a.path, a.content_hash if isinstance(a, Upload) else a.replaces)
        for a in actions
    ]


def _check_target(
    root: Path, state: SyncState, path: str, replaces: str | None, own: OwnWrites | None, target: Path
) -> None:
    """Right before the rename: the local file is still what the plan expected; the watcher's
    event for the rename is ours."""
    disk.check_file(root, state, path, replaces)
    if own is not None:
        own.note(target)
