"""Downloading one file version: verified blocks, a temp file, an atomic rename.

The block list is paged from ``GET /v1/files/blocks`` (the revision pinned by
the first page) and the blocks are fetched several at once from the block
servers. Each block is kept in the pieces it arrived in, checked against its
size and SHA-256 in a worker thread (overlapping the blocks still arriving) and
written with ``pwritev`` at ``index * BLOCK_SIZE`` into ``.tessera-tmp-<random>``
beside the target (:mod:`client.transfer.download.temp`); a bad block is fetched again
(from the next block server) and then fails with
:class:`~protocol.errors.HashMismatch`.

The final content hash is verified without reading the file back: every block
written was checked against its SHA-256, and the chain of those SHA-256s, in
order, is checked against the version's content hash. Then the temp file gets
the time the revision was committed as its modification time, is fsynced,
renamed over the target and the folder fsynced. On any failure
(including cancellation) the temp file is removed and the target is untouched.
Memory is bounded by ``concurrency`` blocks.

Blocks already on disk are copied, not downloaded: by default the file at the
target (an older copy being replaced) is read and hashed first, and its blocks
that the new version has are written into the temp file as they are hashed
(:mod:`client.transfer.download.reuse`). Three optional hooks serve the sync
daemon, each called in a worker thread:

- ``local_blocks`` says where a local file holds a block (another file with a
  block of the same SHA-256, by the daemon's index); the block is copied from
  there and verified like downloaded bytes, or downloaded when that fails. It
  replaces the hashing of the target;
- ``on_block`` sees every verified block as it is written, with the xxh3_64 of
  its bytes (to index it);
- ``check_target`` runs right before the rename and aborts the download, the
  target untouched, by raising (e.g. because the file it would replace was
  changed meanwhile). With ``replace=False`` an existing target is never
  replaced: the rename becomes a hard link that fails if the name is taken.

A ``staged`` file (:mod:`client.transfer.download.staged`: blocks a prefetch fetched before the
version was committed) becomes the temp file when it has the version's size and content hash:
it is renamed beside the target, its staged blocks are kept (read back and checked against the
xxh3-64 each was staged with only where something else wrote to the file since: see
:mod:`client.transfer.download.staged`), and only the other blocks are downloaded. Where it
cannot be renamed there (another file system), its blocks are copied from it like other local
blocks. Either way the download owns it and removes it on failure.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client.api.requestid import in_operation
from client.transfer.concurrency import bounded_map, open_in_thread
from client.transfer.progress import DOWNLOAD, NullProgress, Progress
from protocol import paths
from protocol.errors import GrantExpired, HashMismatch, ProtocolError, SizeMismatch
from protocol.hashing import BLOCK_SIZE
from protocol.messages.blocks import BlockPage, RemoteBlock

from .blocklist import BlockListCheck
from .reuse import reuse_old_copy
from .staged import StagedBlock, StagedPart
from .temp import TEMP_PREFIX, BlockSink, LocalBlock, TargetCheck, TempFile

if TYPE_CHECKING:
    from client.api.client import ApiClient

log = logging.getLogger(__name__)

__all__ = ["TEMP_PREFIX", "BlockSink", "DownloadResult", "LocalBlock", "LocalBlockSource", "TargetCheck",
           "download_file"]  # fmt: skip

#: fetches of one block whose content fails verification before giving up
BAD_BLOCK_ATTEMPTS = 3
#: fresh grants fetched for one block before giving up
MAX_GRANT_REFRESHES = 3
#: staged blocks checked in place at once (worker threads), beside the downloads of the missing ones
IN_PLACE_CHECKS = 2
#: blocks taken from the block list at a time when a staged file is taken over (a page)
STAGED_CHUNK = 1000

#: where a local file holds a block, or None (blocking; the bytes are verified as they are copied)
LocalBlockSource = Callable[[RemoteBlock], LocalBlock | None]


@dataclass(frozen=True, slots=True)
class DownloadResult:
    path: str
    rev: int
    size: int
    content_hash: str
    local_path: Path
    #: blocks copied from local files (``local_blocks`` or the old target) instead of downloaded
    blocks_copied: int = 0
    #: the file as written, taken before the rename (same inode, size and mtime as the target)
    stat: os.stat_result | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rev": self.rev,
            "size": self.size,
            "content_hash": self.content_hash,
            "local_path": str(self.local_path),
        }


@in_operation
async def download_file(
    client: ApiClient,
    remote_path: str,
    local_path: str | os.PathLike[str],
    *,
    rev: int | None = None,
    progress: Progress | None = None,
    concurrency: int = 6,
    local_blocks: LocalBlockSource | None = None,
    on_block: BlockSink | None = None,
    check_target: TargetCheck | None = None,
    replace: bool = True,
    reuse_target: bool = True,
    staged: StagedPart | None = None,
) -> DownloadResult:
    """Download ``remote_path`` (revision ``rev``, default the current one) to ``local_path``.

    See the module docstring for the hooks. With ``replace=False`` a target
    that exists at the rename raises :class:`FileExistsError`. Without
    ``local_blocks``, the blocks of a file already at the target are copied
    instead of downloaded, unless ``reuse_target`` is false.
    """
    remote_path = paths.normalize(remote_path)
    progress = progress or NullProgress()
    pages = client.iter_file_blocks(remote_path, rev=rev)
    leftover: TempFile | None = None  # a staged file not taken over: removed at the end
    try:
        target = await asyncio.to_thread(_check_target, local_path)
        first = await anext(pages)
        in_place: dict[int, StagedBlock] = {}
        intact = False
        part: TempFile | None = None
        if staged is not None:
            leftover = staged.part
            if (staged.size, staged.content_hash) == (first.size, first.content_hash):
                part, in_place, intact = await _take_over(staged, target, on_block)
                if part is not None:
                    leftover = None
                else:
                    local_blocks = _staged_source(staged, local_blocks)
        if part is None:
            part = await open_in_thread(lambda: TempFile(target, first.size, on_block), TempFile.discard)
        try:
            progress.phase(DOWNLOAD, first.size)
            fetcher = _Fetcher(client, remote_path, first, part, progress, local_blocks, None, in_place, intact)
            reuse_old = local_blocks is None and not in_place and reuse_target and replace
            await fetcher.fetch_all(pages, concurrency, reuse_old=reuse_old)
            written = await asyncio.to_thread(part.commit, check_target, replace, first.file_time)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(part.discard))
            raise
    finally:
        await pages.aclose()
        if leftover is not None:
            await asyncio.shield(asyncio.to_thread(leftover.discard))
    return DownloadResult(
        first.path, first.rev, first.size, first.content_hash, target, fetcher.blocks_copied, written
    )


async def _take_over(
    staged: StagedPart, target: Path, on_block: BlockSink | None
) -> tuple[TempFile | None, dict[int, StagedBlock], bool]:
    """The staged file renamed beside ``target``, its blocks, and whether nothing else wrote to it
    since they were staged (else each is read back); (None, {}, False) if it cannot move there."""
    try:
        intact = await asyncio.to_thread(staged.unchanged)  # before the rename, which changes the ctime
        await asyncio.to_thread(staged.part.move_beside, target, on_block)
    except OSError as e:
        log.debug("cannot move the staged copy of %s beside it (%s); copying its blocks", target, e)
        return None, {}, False
    if not intact:
        log.info("the staged copy of %s was written to since it was staged: checking each block", target)
    return staged.part, dict(staged.blocks), intact


def _staged_source(staged: StagedPart, fallback: LocalBlockSource | None) -> LocalBlockSource:
    """Local blocks from the staged file (checked by their xxh3 as they are copied), else ``fallback``."""

    def source(block: RemoteBlock) -> LocalBlock | None:
        s = staged.blocks.get(block.index)
        if s is not None and s.serves(block):
            return LocalBlock(staged.part.path, block.index * BLOCK_SIZE, s.xxh3_64)
        return fallback(block) if fallback is not None else None

    return source


async def _missing_first(blocks: AsyncIterator[RemoteBlock], fetcher: _Fetcher, concurrency: int) -> None:
    """Fetch the blocks not staged while the staged ones are checked in place, a page at a time:
    the downloads of the few missing blocks do not wait behind the checks of the many staged."""
    chunk: list[RemoteBlock] = []
    async for b in blocks:
        chunk.append(b)
        if len(chunk) == STAGED_CHUNK:
            await _both(fetcher, chunk, concurrency)
            chunk = []
    if chunk:
        await _both(fetcher, chunk, concurrency)


async def _both(fetcher: _Fetcher, chunk: list[RemoteBlock], concurrency: int) -> None:
    staged = [b for b in chunk if fetcher.is_staged(b)]
    missing = [b for b in chunk if not fetcher.is_staged(b)]
    tasks = [
        asyncio.create_task(bounded_map(missing, fetcher.fetch, limit=concurrency)),
        asyncio.create_task(bounded_map(staged, fetcher.fetch, limit=IN_PLACE_CHECKS)),
    ]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _check_target(local_path: str | os.PathLike[str]) -> Path:
    """The absolute target path, after checking it can be written as a file."""
    target = Path(os.path.abspath(local_path))
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(target))
    if not target.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "No such directory", str(target.parent))
    return target


async def _verified_block_list(
    first: BlockPage, pages: AsyncIterator[BlockPage], fetcher: _Fetcher
) -> AsyncIterator[RemoteBlock]:
    """The version's blocks in order, checked to add up to its size and content hash."""
    check = BlockListCheck(first.path, first.rev, first.size, first.content_hash)
    page: BlockPage | None = first
    while page is not None:
        if (page.rev, page.size, page.content_hash, page.total) != (
            first.rev,
            first.size,
            first.content_hash,
            check.nblocks,
        ):
            raise ProtocolError(f"the block list of {first.path} changed between pages")
        if page.start != check.index:
            raise ProtocolError(
                f"the block list of {first.path} skipped from block {check.index} to {page.start}"
            )
        fetcher.servers = page.block_servers
        for b in page.blocks:
            check.add(b)
            yield b
        page = await anext(pages, None)
    check.finish()


class _Fetcher:
    """Fetches, verifies and writes single blocks."""

    def __init__(
        self,
        client: ApiClient,
        remote_path: str,
        first: BlockPage,
        part: TempFile,
        progress: Progress,
        local_blocks: LocalBlockSource | None = None,
        done: set[int] | None = None,
        in_place: dict[int, StagedBlock] | None = None,
        in_place_intact: bool = False,
    ) -> None:
        self._client = client
        #: indexes already in the temp file (from the old copy at the target)
        self._done = done or set()
        #: blocks a prefetch staged in the temp file, to be checked in place unless intact
        self._in_place = in_place or {}
        #: nothing wrote to the staged file since its blocks were staged: they are kept unread
        self._in_place_intact = in_place_intact
        self._path = remote_path
        self._rev = first.rev
        self._part = part
        self._progress = progress
        self._local_blocks = local_blocks
        self._first = first
        self.servers: list[str] = list(first.block_servers)
        self.blocks_copied = 0

    async def fetch_all(self, pages: AsyncIterator[BlockPage], concurrency: int, *, reuse_old: bool) -> None:
        """Fetch every block of the version (``pages`` after the first) into the temp file, each
        verified; with ``reuse_old``, the blocks of an old copy at the target are copied from it
        first (and any other block it holds, from where it is in it)."""
        first = self._first
        if reuse_old and first.size:
            old = await reuse_old_copy(self._part.target, self._part, first.blocks)
            self._done = old.written
            if old.blocks:
                self._local_blocks = lambda b: old.blocks.get(b.sha256)
        blocks = _verified_block_list(first, pages, self)
        if self._in_place:
            await _missing_first(blocks, self, concurrency)
        else:
            await bounded_map(blocks, self.fetch, limit=concurrency)

    def _copy_local(self, block: RemoteBlock) -> bool:
        """Copy the block from a local file if one has it and it verifies; True if it was (blocking)."""
        assert self._local_blocks is not None
        try:
            source = self._local_blocks(block)
            if source is None:
                return False
            problem = self._part.copy_verified(block, source)
        except OSError as e:
            log.debug("local copy of block %d of %s unreadable: %s", block.index, self._path, e)
            return False
        if problem:
            log.debug("local copy of block %d of %s is stale: %s", block.index, self._path, problem)
            return False
        return True

    def is_staged(self, block: RemoteBlock) -> bool:
        staged = self._in_place.get(block.index)
        return staged is not None and staged.serves(block)

    async def fetch(self, block: RemoteBlock) -> None:
        if block.index in self._done:
            self.blocks_copied += 1
            self._progress.advance(block.size)
            return
        staged = self._in_place.get(block.index)
        if staged is not None and staged.serves(block):
            if self._in_place_intact:
                self._part.keep_staged(block, staged.xxh3_64)
                problem = ""
            else:
                problem = await asyncio.to_thread(self._part.check_in_place, block, staged.xxh3_64)
            if not problem:
                self.blocks_copied += 1
                self._progress.advance(block.size)
                return
            log.info(
                "staged block %d of %s is not intact (%s); downloading it", block.index, self._path, problem
            )
        if self._local_blocks is not None and await asyncio.to_thread(self._copy_local, block):
            self.blocks_copied += 1
            self._progress.advance(block.size)
            return
        grant = block.grant
        refreshes = 0
        bad = 0
        problem = ""
        while bad < BAD_BLOCK_ATTEMPTS:
            try:
                pieces = await self._client.get_block_pieces(
                    self.servers, block.index + bad, block.block_id, grant, block.size
                )
            except GrantExpired:
                refreshes += 1
                if refreshes > MAX_GRANT_REFRESHES:
                    raise
                grant = await self._fresh_grant(block)
                continue
            except SizeMismatch as err:
                problem = err.message
            else:
                problem = await asyncio.to_thread(self._part.write_verified, block, pieces)
                del pieces
                if not problem:
                    self._progress.advance(block.size)
                    return
            bad += 1
            log.info(
                "block %d of %s (rev %d) failed verification: %s", block.index, self._path, self._rev, problem
            )
        raise HashMismatch(
            f"block {block.index} of {self._path} (rev {self._rev}) failed verification "
            f"{BAD_BLOCK_ATTEMPTS} times: {problem}",
            index=block.index,
            block_id=block.block_id,
        )

    async def _fresh_grant(self, block: RemoteBlock) -> str:
        page = await self._client.file_blocks(self._path, rev=self._rev, start=block.index, limit=1)
        if (
            not page.blocks
            or page.blocks[0].index != block.index
            or page.blocks[0].block_id != block.block_id
        ):
            raise ProtocolError(f"block {block.index} of {self._path} changed identity")
        return page.blocks[0].grant
