"""The small-file part of the sync executor: uploads and downloads in batches.

:meth:`client.sync.execute.executor.Executor` hands the small files of a transfer phase
(at most :data:`client.transfer.upload.batch.SMALL_FILE_MAX` bytes, once at least
:attr:`SyncSettings.batch_min` are planned) to :func:`upload_small` and
:func:`download_small` in chunks of :data:`BATCH_FILES`; several chunks run at
once (up to :attr:`SyncSettings.transfers`), so the first files reach the other
device while the next are still being sent. Each file is checked before and
after as the single-file actions check it, and each chunk's results are
recorded in one state transaction.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import xxhash

from client.api.models import Metadata, RemoteBlock
from client.sync.local import disk
from client.sync.local.disk import LocalChanged
from client.sync.local.watch import OwnWrites
from client.sync.plan.reconcile import Download, Upload
from client.sync.plan.tree import FILE, Node
from client.sync.state.database import BlockRecord, LocalEntry, RemoteEntry, SyncState
from client.transfer.download.batch import BatchDownload, download_batch
from client.transfer.download.file import LocalBlock
from client.transfer.upload.batch import SMALL_FILE_MAX, BatchFile, upload_batch
from protocol.errors import TesseraError, Unauthorized

from . import executor as _ex  # Result, Outcome: used at call time (the executor imports this module)
from .single import _record_download, _record_remote_and_synced

if TYPE_CHECKING:
    from .executor import Executor, Result

log = logging.getLogger(__name__)

#: small files per upload or download batch: several batches run at once (up to
#: SyncSettings.transfers), and the first ones reach the other side while the next are sent
BATCH_FILES = 250


async def upload_small(ex: Executor, actions: list[Upload]) -> list[Result]:
    files = [
        BatchFile(
            disk.fs_path(ex.root, a.path),
            a.path,
            mode="add" if a.parent_rev is None else "update",
            parent_rev=a.parent_rev,
        )
        for a in actions
    ]
    checks = await ex._offload(_check_files, ex.root, ex.state, actions)
    todo = [(a, f) for a, f, ok in zip(actions, files, checks, strict=True) if ok]
    results = [
        ex._report(
            _ex.Result(a, _ex.Outcome.LOCAL_CHANGED, "local_changed", f"{a.path} changed since the last scan")
        )
        for a, ok in zip(actions, checks, strict=True)
        if not ok
    ]
    if not todo:
        return results
    for a, _ in todo:
        ex.pending.started_here(a.path)
    try:
        with ex.status.transfer(f"{len(todo)} small files", "upload"):
            outcomes = await upload_batch(ex.client, [f for _, f in todo])
    except Unauthorized:
        raise
    except TesseraError as err:
        outcome, code = _ex._classify(err)
        return results + [ex._report(_ex.Result(a, outcome, code, err.message)) for a, _ in todo]
    sent = 0
    committed = [
        (a, r.metadata) for (a, _), r in zip(todo, outcomes, strict=True) if r.error is None and r.metadata
    ]
    recorded = await ex._offload(_record_uploads, ex.state, committed)
    for (a, _), r in zip(todo, outcomes, strict=True):
        if r.error is None and r.metadata is not None:
            problem = recorded[a.path]
            if problem is not None:
                results.append(ex._report(_ex.Result(a, *problem)))
                continue
            sent += r.blocks_sent
            results.append(_ex.Result(a, _ex.Outcome.DONE))
        else:
            assert r.error is not None
            outcome, code = _ex._classify(r.error)
            message = getattr(r.error, "message", None) or str(r.error)
            results.append(ex._report(_ex.Result(a, outcome, code, message)))
    done = sum(1 for r in results if r.outcome == _ex.Outcome.DONE)
    log.info("uploaded %d of %d small files in one batch (%d blocks sent)", done, len(actions), sent)
    return results


async def download_small(ex: Executor, actions: list[Download]) -> list[Result]:
    """Small files downloaded together (:mod:`client.transfer.download.batch`); each checked as
    :meth:`_download` checks one, each recorded as it would record it."""
    checks = await ex._offload(_check_targets, ex.root, ex.state, actions)
    results = [
        ex._report(
            _ex.Result(
                a, _ex.Outcome.LOCAL_CHANGED, "local_changed", f"{a.path} changed on disk since the last scan"
            )
        )
        for a, ok in zip(actions, checks, strict=True)
        if not ok
    ]
    todo = [a for a, ok in zip(actions, checks, strict=True) if ok]
    if not todo:
        return results
    files = [
        BatchDownload(
            a.path,
            a.rev,
            disk.fs_path(ex.root, a.path),
            check_target=functools.partial(
                _check_target, ex.root, ex.state, a.path, a.replaces, ex._own_writes
            ),
            replace=a.replaces is not None,
        )
        for a in todo
    ]
    indexed: dict[str, list[BlockRecord]] = {a.path: [] for a in todo}

    def on_block(f: BatchDownload, block: RemoteBlock, data: memoryview) -> None:
        indexed[f.remote_path].append(
            disk.index_block(block, xxhash.xxh3_64_hexdigest(data))
        )  # one writer thread

    def local_block(block: RemoteBlock) -> LocalBlock | None:
        return disk.find_local_block(ex.root, ex.state, block)

    try:
        with ex.status.transfer(f"{len(todo)} small files", "download"):
            outcomes = await download_batch(ex.client, files, local_blocks=local_block, on_block=on_block)
    except Unauthorized:
        raise
    except BaseException as err:
        ex.stray_temp_files = True
        if not isinstance(err, TesseraError | OSError):
            raise
        outcome, code = _ex._classify(err)
        message = getattr(err, "message", None) or str(err)
        return results + [ex._report(_ex.Result(a, outcome, code, message)) for a in todo]
    records = []
    singles = []
    for a, r in zip(todo, outcomes, strict=True):
        if r.fallback:
            singles.append(a)
        elif r.error is not None:
            ex.stray_temp_files = True
            if not isinstance(r.error, TesseraError | OSError | LocalChanged):
                raise r.error
            outcome, code = _ex._classify(r.error)
            message = getattr(r.error, "message", None) or str(r.error)
            results.append(ex._report(_ex.Result(a, outcome, code, message)))
        elif r.page is None or r.page.content_hash != a.content_hash or r.stat is None:
            message = f"revision {a.rev} of {a.path} does not have the content the feed announced"
            results.append(ex._report(_ex.Result(a, _ex.Outcome.FAILED, "internal", message)))
        else:
            entry = disk.downloaded_entry(a.path, a.content_hash, r.stat)
            blocks = sorted(indexed[a.path], key=lambda b: b.idx)
            records.append((entry, blocks, Node(FILE, a.path, a.content_hash, a.rev)))
            results.append(_ex.Result(a, _ex.Outcome.DONE))
    await ex._offload(_record_downloads, ex.state, records)
    log.info("downloaded %d of %d small files in one batch", len(records), len(actions))
    for a in singles:
        results.append(await ex._one(a))
    return results


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


def _check_files(root: Path, state: SyncState, uploads: list[Upload]) -> list[bool]:
    return [disk.file_matches(root, state, a.path, a.content_hash) for a in uploads]


def _record_uploads(
    state: SyncState, committed: list[tuple[Upload, Metadata]]
) -> dict[str, tuple[_ex.Outcome, str, str] | None]:
    """Record the committed uploads of a batch in one transaction, as :meth:`Executor._record_upload`
    records one; per path None, or the outcome, code and message of a file that was not recorded
    as uploaded."""
    out: dict[str, tuple[_ex.Outcome, str, str] | None] = {}
    with state.transaction():
        for a, meta in committed:
            if not meta.is_file or meta.content_hash is None or meta.rev is None:
                out[a.path] = (
                    _ex.Outcome.FAILED,
                    "internal",
                    f"the server answered the upload of {a.path} with a {meta.kind}",
                )
                continue
            _record_remote_and_synced(
                state, RemoteEntry(meta.path, FILE, meta.rev, meta.size, meta.content_hash)
            )
            if meta.content_hash != a.content_hash:
                # the file changed between the scan and the upload: what was sent is recorded, the
                # next scan sees the file as it is now
                out[a.path] = (
                    _ex.Outcome.LOCAL_CHANGED,
                    "local_changed",
                    f"{a.path} changed since the last scan; uploaded as it is now",
                )
            else:
                out[a.path] = None
    return out


def _record_downloads(state: SyncState, records: list[tuple[LocalEntry, list[BlockRecord], Node]]) -> None:
    with state.transaction():
        for entry, blocks, node in records:
            _record_download(state, entry, blocks, node)


def _check_targets(root: Path, state: SyncState, downloads: list[Download]) -> list[bool]:
    return [disk.file_matches(root, state, a.path, a.replaces) for a in downloads]


def _check_target(
    root: Path, state: SyncState, path: str, replaces: str | None, own: OwnWrites | None, target: Path
) -> None:
    """Right before the rename: the local file is still what the plan expected; the watcher's
    event for the rename is ours."""
    disk.check_file(root, state, path, replaces)
    if own is not None:
        own.note(target)
