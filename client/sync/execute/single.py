"""The single-file transfers of the sync executor: one upload, one download, and what they record.

:class:`~client.sync.execute.executor.Executor` runs a transfer phase's files one at a
time through these (the small files of a large phase go in batches instead,
:mod:`client.sync.execute.batch`). An upload checks the file is still the one
the scan saw, reuses the scan's block hashes, resumes an interrupted session
through the folder's :class:`~client.transfer.upload.journal.UploadJournal` and commits
on top of the revision it was planned against. A download copies the blocks a
local file already holds (:meth:`SyncState.find_local_block
<client.sync.state.database.SyncState.find_local_block>`), takes over the blocks
:mod:`client.sync.remote.prefetch` fetched while another device was still uploading
the file, and replaces the local file only if it is still what the plan
expected. Each records its result in the trees once it took effect.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from client.sync.local import disk
from client.sync.local.scan import scanned_hash
from client.sync.plan.actions import Download, Upload
from client.sync.plan.tree import FILE, Node
from client.sync.remote.prefetch import Prefetcher
from client.sync.state.database import BlockRecord
from client.transfer.download.file import LocalBlock, download_file
from client.transfer.upload.journal import UploadJournal
from protocol.errors import TesseraError
from protocol.messages.blocks import RemoteBlock
from protocol.messages.files import Metadata

from . import records
from .folder import SyncedFolder

log = logging.getLogger(__name__)


class SingleTransfers:
    """Uploads and downloads one file at a time in ``folder`` (see the module docstring).

    ``journal`` resumes interrupted uploads; ``prefetcher`` hands over what it staged.
    """

    def __init__(
        self, folder: SyncedFolder, journal: UploadJournal | None = None, prefetcher: Prefetcher | None = None
    ) -> None:
        self.folder = folder
        self._journal = journal
        self._prefetcher = prefetcher

    async def upload(self, a: Upload) -> None:
        f = self.folder
        await f.offload(disk.check_file, f.root, f.state, a.path, a.content_hash)
        # the scan's block hashes: the upload hashes the file again only if it changed since
        known = await f.offload(scanned_hash, f.state, a.path, a.content_hash)
        mode = "add" if a.parent_rev is None else "update"
        f.pending.started_here(a.path)
        with f.status.transfer(a.path, "upload") as progress:
            result = await f.client.upload_file(
                disk.fs_path(f.root, a.path),
                a.path,
                mode=mode,
                parent_rev=a.parent_rev,
                progress=progress,
                resume=self._journal,
                known=known,
            )
        await self._record_upload(a, result.metadata)
        log.info(
            "uploaded %s (rev %s; sent %d of %d blocks, hashed %d%s)",
            result.metadata.path,
            result.metadata.rev,
            result.blocks_sent,
            result.blocks_total,
            result.blocks_hashed,
            ", resumed" if result.resumed else "",
        )

    async def _record_upload(self, a: Upload, meta: Metadata) -> None:
        remote = records.committed_entry(a, meta)
        await self.folder.offload(records.remote_and_synced, self.folder.state, remote)
        records.check_uploaded_as_scanned(a, meta)

    async def download(self, a: Download) -> None:
        f = self.folder
        # a quick look first (no hashing: check_target below checks fully right before the rename)
        await f.offload(disk.check_file, f.root, f.state, a.path, a.replaces, rehash=False)
        target = disk.fs_path(f.root, a.path)
        indexed: list[BlockRecord] = []
        lock = threading.Lock()

        def on_block(block: RemoteBlock, xxh3_64: str) -> None:
            record = disk.index_block(block, xxh3_64)
            with lock:
                indexed.append(record)

        def local_block(block: RemoteBlock) -> LocalBlock | None:
            return disk.find_local_block(f.root, f.state, block)

        def check_target(_path: Path) -> None:
            """Right before the rename: the local file is still what the plan expected; the
            watcher's event for the rename is ours (no rescan, no re-hash of what we wrote)."""
            disk.check_file(f.root, f.state, a.path, a.replaces)
            if f.own_writes is not None:
                f.own_writes.note(target)

        # blocks fetched while another device was still uploading the file
        staged = await self._prefetcher.take(a.path, a.content_hash) if self._prefetcher is not None else None
        try:
            with f.status.transfer(a.path, "download") as progress:
                result = await download_file(
                    f.client,
                    a.path,
                    target,
                    rev=a.rev,
                    progress=progress,
                    concurrency=f.client.transfer_concurrency,
                    local_blocks=local_block,
                    on_block=on_block,
                    check_target=check_target,
                    replace=a.replaces is not None,
                    staged=staged,
                )
        except BaseException:
            f.stray_temp_files = True
            raise
        if result.content_hash != a.content_hash:
            raise TesseraError(f"revision {a.rev} of {a.path} does not have the content the feed announced")
        assert result.stat is not None
        entry = disk.downloaded_entry(a.path, a.content_hash, result.stat)
        blocks = sorted(indexed, key=lambda b: b.idx)
        await f.offload(records.download, f.state, entry, blocks, Node(FILE, a.path, a.content_hash, a.rev))
        log.info(
            "downloaded %s (rev %d; %d of %d blocks copied from local files)",
            a.path,
            a.rev,
            result.blocks_copied,
            len(blocks),
        )
