"""Downloading many small files in a few requests instead of two per file.

1. ``POST /v1/files/blocks_batch`` gives the block lists (with get grants) of
   up to 1,000 file versions; each list is checked to add up to its file's
   size and content hash, as :mod:`client.transfer.download.file` checks one.
2. Blocks a local file already holds (``local_blocks``) are taken from there
   once they verify; the rest come framed in ``POST /v1/blocks/get_batch``
   requests of at most :data:`MAX_FETCH_BYTES`. Every block's size, MD5 and
   SHA-256 are checked before it is written.
3. Each file is written to ``.tessera-tmp-<random>`` beside its target; all
   of them are flushed together (:class:`protocol.fs.flush.FlushGroup`: one
   ``syncfs`` on Linux, else an fsync each), then each is checked
   (``check_target``) and renamed into place, and the folders are flushed
   once. A file is renamed only after its data is on disk; a file that fails
   leaves its target untouched and its temp file removed.

A file whose list the answer cut short, or that is larger than
:data:`BATCH_FILE_MAX`, is not downloaded here: its result says ``fallback``
and the caller downloads it alone. Memory holds the blocks of one call: the
caller gives at most :data:`MAX_BATCH_FILES` files of at most
:data:`BATCH_FILE_MAX` bytes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from client.api.blocks import WantedBlock
from client.api.requestid import in_operation
from protocol import blockbatch
from protocol.errors import BadRequest, HashMismatch, ProtocolError, TesseraError
from protocol.fs.flush import FlushGroup
from protocol.hashing import BLOCK_SIZE, BlockHash, hash_block
from protocol.messages.blocks import BlockPage, RemoteBlock

from .blocklist import BlockListCheck
from .file import LocalBlockSource
from .file_writes import link_no_replace, set_modified
from .temp import LocalBlock, TargetCheck, open_temp_beside

if TYPE_CHECKING:
    from client.api.client import ApiClient

#: files in one call (the server's batch limit)
MAX_BATCH_FILES = 1000
#: files larger than this are left to the single-file download
BATCH_FILE_MAX = 1024 * 1024
#: bytes of blocks asked for in one batch GET
MAX_FETCH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BatchDownload:
    """One file version to download to ``local_path`` (see :func:`client.transfer.download.file.download_file`)."""

    remote_path: str
    rev: int
    local_path: Path
    #: raising aborts this file (its target untouched), e.g. because the local file changed (blocking)
    check_target: TargetCheck | None = None
    #: False: never replace an existing target (FileExistsError)
    replace: bool = True


#: sees each verified block of a file as it is written (blocking)
BatchBlockSink = Callable[["BatchDownload", RemoteBlock, memoryview], None]


@dataclass(slots=True)
class BatchDownloadResult:
    file: BatchDownload
    #: the version downloaded (None when it failed or fell back)
    page: BlockPage | None = None
    #: the file as written, before the rename
    stat: os.stat_result | None = None
    error: BaseException | None = None
    #: too large for a batch: download it alone
    fallback: bool = False
    blocks_copied: int = 0
    #: the verified bytes of each block, until written
    data: list[bytes | None] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.error is None and not self.fallback


@in_operation
async def download_batch(
    client: ApiClient,
    files: Sequence[BatchDownload],
    *,
    local_blocks: LocalBlockSource | None = None,
    on_block: BatchBlockSink | None = None,
) -> list[BatchDownloadResult]:
    """Download up to :data:`MAX_BATCH_FILES` file versions; one result per file, in order."""
    if not 1 <= len(files) <= MAX_BATCH_FILES:
        raise BadRequest(f"a batch holds 1 to {MAX_BATCH_FILES} files")
    results = [BatchDownloadResult(f) for f in files]
    pages = await client.file_blocks_batch([(f.remote_path, f.rev) for f in files])
    for r, page in zip(results, pages, strict=True):
        if isinstance(page, TesseraError):
            r.error = page
        elif page.size > BATCH_FILE_MAX or page.start != 0 or len(page.blocks) != page.total:
            r.fallback = True
        else:
            r.page = page
            try:
                _check_list(page, r.file.rev)
            except TesseraError as e:
                r.error = e
            r.data = [None] * len(page.blocks)
    if local_blocks is not None:
        await asyncio.to_thread(_copy_local, results, local_blocks)
    await _fetch(client, results)
    await asyncio.to_thread(_write_all, results, on_block)
    for r in results:
        r.data = []
    return results


def _check_list(page: BlockPage, rev: int) -> None:
    """The block list adds up to the version's size and content hash (as
    :mod:`client.transfer.download.file` checks)."""
    if page.rev != rev:
        raise ProtocolError(f"asked for revision {rev} of {page.path}, got {page.rev}")
    check = BlockListCheck(page.path, page.rev, page.size, page.content_hash)
    if page.total != check.nblocks:
        raise ProtocolError(
            f"the block list of {page.path} has {page.total} blocks, expected {check.nblocks}"
        )
    for b in page.blocks:
        check.add(b)
    check.finish()


def _verified(block: RemoteBlock, data: bytes | bytearray | None) -> bool:
    return data is not None and hash_block(data) == BlockHash(block.size, block.md5, block.sha256)


def _copy_local(results: list[BatchDownloadResult], local_blocks: LocalBlockSource) -> None:
    for r in results:
        if not r.alive or r.page is None:
            continue
        for i, b in enumerate(r.page.blocks):
            try:
                found = local_blocks(b)
                data = _read_local(found, b.size) if found is not None else None
            except OSError:
                continue
            if _verified(b, data):
                r.data[i] = data
                r.blocks_copied += 1


def _read_local(found: LocalBlock, size: int) -> bytes:
    """The bytes at the place a local file held the block (verified by the caller)."""
    fd = os.open(found.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        return os.pread(fd, size, found.offset)
    finally:
        os.close(fd)


async def _fetch(client: ApiClient, results: list[BatchDownloadResult]) -> None:
    """Fetch every block still missing, each distinct block id once, in bounded requests."""
    holders: dict[str, list[tuple[BatchDownloadResult, int]]] = {}
    wanted: list[WantedBlock] = []
    servers: list[str] = []
    for r in results:
        if not r.alive or r.page is None:
            continue
        servers = servers or r.page.block_servers
        for i, b in enumerate(r.page.blocks):
            if r.data[i] is None:
                if b.block_id not in holders:
                    holders[b.block_id] = []
                    wanted.append(WantedBlock(b.block_id, b.grant, b.size))
                holders[b.block_id].append((r, i))
    groups: list[list[WantedBlock]] = []
    size = 0
    for w in wanted:
        if not groups or len(groups[-1]) >= blockbatch.MAX_FRAMES or size + w.size > MAX_FETCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(w)
        size += w.size
    for n, group in enumerate(groups):
        answers = await client.get_block_batch(servers, group, spread=n)
        for w, data in zip(group, answers, strict=True):
            for r, i in holders[w.block_id]:
                if not r.alive:
                    continue
                block = r.page.blocks[i]  # type: ignore[union-attr]
                if isinstance(data, TesseraError):
                    r.error = data
                elif not _verified(block, data):
                    r.error = HashMismatch(
                        f"block {block.index} of {r.file.remote_path} (rev {r.file.rev}) failed verification",
                        index=block.index,
                        block_id=block.block_id,
                    )
                else:
                    r.data[i] = data


# -- writing, in a worker thread -------------------------------------------------------------------


def _write_all(results: list[BatchDownloadResult], on_block: BatchBlockSink | None) -> None:
    """Temp files, flushed together; then check and rename each, and flush the folders once.

    The order is :mod:`protocol.fs.flush`'s: every temp file's data is durable
    before any is renamed, and the renames are durable before this returns
    (and so before the caller records a file as downloaded).
    """
    alive = [r for r in results if r.alive]
    if not alive:
        return
    # made before the writes, so that the flush reports any write-back error of theirs
    with FlushGroup(alive[0].file.local_path.parent) as flush:
        written: list[tuple[BatchDownloadResult, Path, int]] = []
        try:
            for r in alive:
                try:
                    tmp, fd = _write_temp(r, on_block)
                except OSError as e:
                    r.error = e
                    continue
                written.append((r, tmp, fd))
            errors = flush.files([fd for _, _, fd in written])
            synced = [
                err if err is not None else _fstat(fd)
                for (_, _, fd), err in zip(written, errors, strict=True)
            ]
        except BaseException:
            for _, tmp, fd in written:
                _discard(tmp, fd)
            raise
        folders: set[Path] = set()
        for (r, tmp, fd), st in zip(written, synced, strict=True):
            os.close(fd)
            try:
                if isinstance(st, BaseException):
                    raise st
                target = r.file.local_path
                if r.file.check_target is not None:
                    r.file.check_target(target)
                if r.file.replace:
                    os.replace(tmp, target)
                else:
                    link_no_replace(tmp, target)
            except Exception as e:  # this file fails alone; its target is untouched
                r.error = e
                _discard(tmp, None)
                continue
            r.stat = st
            folders.add(target.parent)
        flush.folders(folders)


def _fstat(fd: int) -> os.stat_result | OSError:
    try:
        return os.fstat(fd)
    except OSError as e:
        return e


def _write_temp(r: BatchDownloadResult, on_block: BatchBlockSink | None) -> tuple[Path, int]:
    tmp, fd = open_temp_beside(r.file.local_path)
    try:
        assert r.page is not None
        for block, data in zip(r.page.blocks, r.data, strict=True):
            assert data is not None
            view = memoryview(data)
            if on_block is not None:
                on_block(r.file, block, view)
            offset = block.index * BLOCK_SIZE
            while view:
                n = os.pwrite(fd, view, offset)
                view, offset = view[n:], offset + n
        set_modified(fd, r.page.file_time)
    except BaseException:
        _discard(tmp, fd)
        raise
    return tmp, fd


def _discard(tmp: Path, fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
