"""Downloading one file version: verified blocks, a temp file, an atomic rename.

The block list is paged from ``GET /v1/files/blocks`` (the revision pinned by
the first page) and the blocks are fetched several at once from the block
servers. Each block's size, MD5 and SHA-256 are checked before it is written
with ``pwrite`` at ``index * BLOCK_SIZE`` into ``.tessera-tmp-<random>`` beside
the target; a bad block is fetched again (from the next block server) and then
fails with :class:`~protocol.errors.HashMismatch`.

The final content hash is verified without reading the file back: every block
written was checked against its SHA-256, and the chain of those SHA-256s, in
order, is checked against the version's content hash. Then the temp file is
fsynced, renamed over the target and the folder fsynced. On any failure
(including cancellation) the temp file is removed and the target is untouched.
Memory is bounded by ``concurrency`` blocks.

Three optional hooks serve the sync daemon, each called in a worker thread:

- ``local_blocks`` offers a block's bytes from a local copy (another file with
  a block of the same SHA-256); they are verified like downloaded bytes and
  used instead of a download, or the block is downloaded when they fail;
- ``on_block`` sees every verified block as it is written (to index it);
- ``check_target`` runs right before the rename and aborts the download, the
  target untouched, by raising (e.g. because the file it would replace was
  changed meanwhile). With ``replace=False`` an existing target is never
  replaced: the rename becomes a hard link that fails if the name is taken.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import secrets
import stat
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol import paths
from protocol.errors import GrantExpired, HashMismatch, ProtocolError, SizeMismatch
from protocol.hashing import BLOCK_SIZE, BlockHash, block_count, hash_block

from .concurrency import bounded_map, open_in_thread
from .fileguard import UseGuard
from .models import BlockPage, RemoteBlock
from .progress import DOWNLOAD, NullProgress, Progress

if TYPE_CHECKING:
    from .api import TesseraClient

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tessera-tmp-"
#: fetches of one block whose content fails verification before giving up
BAD_BLOCK_ATTEMPTS = 3
#: fresh grants fetched for one block before giving up
MAX_GRANT_REFRESHES = 3

#: the bytes of a block from a local copy, or None (blocking; they are verified before use)
LocalBlockSource = Callable[[RemoteBlock], "bytes | bytearray | None"]
#: sees each verified block as it is written (blocking)
BlockSink = Callable[[RemoteBlock, memoryview], None]
#: runs right before the rename; raising aborts the download and keeps the target (blocking)
TargetCheck = Callable[[Path], None]


@dataclass(frozen=True, slots=True)
class DownloadResult:
    path: str
    rev: int
    size: int
    content_hash: str
    local_path: Path
    #: blocks taken from ``local_blocks`` instead of the network
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


async def download_file(
    client: TesseraClient,
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
) -> DownloadResult:
    """Download ``remote_path`` (revision ``rev``, default the current one) to ``local_path``.

    See the module docstring for the hooks. With ``replace=False`` a target
    that exists at the rename raises :class:`FileExistsError`.
    """
    remote_path = paths.normalize(remote_path)
    progress = progress or NullProgress()
    target = await asyncio.to_thread(_check_target, local_path)
    pages = client.iter_file_blocks(remote_path, rev=rev)
    try:
        first = await anext(pages)
        part = await open_in_thread(lambda: _TempFile(target, first.size, on_block), _TempFile.discard)
        try:
            progress.phase(DOWNLOAD, first.size)
            fetcher = _Fetcher(client, remote_path, first, part, progress, local_blocks)
            await bounded_map(_verified_block_list(first, pages, fetcher), fetcher.fetch, limit=concurrency)
            written = await asyncio.to_thread(part.commit, check_target, replace)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(part.discard))
            raise
    finally:
        await pages.aclose()
    return DownloadResult(
        first.path, first.rev, first.size, first.content_hash, target, fetcher.blocks_copied, written
    )


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
    nblocks = block_count(first.size)
    last_size = first.size - (nblocks - 1) * BLOCK_SIZE
    chain = hashlib.sha256()
    index = 0
    page: BlockPage | None = first
    while page is not None:
        if (page.rev, page.size, page.content_hash, page.total) != (
            first.rev,
            first.size,
            first.content_hash,
            nblocks,
        ):
            raise ProtocolError(f"the block list of {first.path} changed between pages")
        if page.start != index:
            raise ProtocolError(f"the block list of {first.path} skipped from block {index} to {page.start}")
        fetcher.servers = page.block_servers
        for b in page.blocks:
            want_size = last_size if b.index == nblocks - 1 else BLOCK_SIZE
            if b.index != index or b.size != want_size:
                raise ProtocolError(f"the block list of {first.path} is inconsistent at block {index}")
            try:
                chain.update(bytes.fromhex(b.sha256))
            except ValueError:
                raise ProtocolError(f"block {index} of {first.path} has a malformed SHA-256") from None
            index += 1
            yield b
        page = await anext(pages, None)
    if index != nblocks:
        raise ProtocolError(f"the block list of {first.path} has {index} blocks, expected {nblocks}")
    if chain.hexdigest() != first.content_hash:
        raise HashMismatch(f"the blocks of {first.path} (rev {first.rev}) do not add up to its content hash")


class _Fetcher:
    """Fetches, verifies and writes single blocks."""

    def __init__(
        self,
        client: TesseraClient,
        remote_path: str,
        first: BlockPage,
        part: _TempFile,
        progress: Progress,
        local_blocks: LocalBlockSource | None = None,
    ) -> None:
        self._client = client
        self._path = remote_path
        self._rev = first.rev
        self._part = part
        self._progress = progress
        self._local_blocks = local_blocks
        self.servers: list[str] = list(first.block_servers)
        self.blocks_copied = 0

    async def _copy_local(self, block: RemoteBlock) -> bool:
        """Write the block from a local copy if one is offered and verifies; True if it was."""
        assert self._local_blocks is not None
        try:
            data = await asyncio.to_thread(self._local_blocks, block)
        except OSError as e:
            log.debug("local copy of block %d of %s unreadable: %s", block.index, self._path, e)
            return False
        if data is None:
            return False
        problem = await asyncio.to_thread(self._part.write_verified, block, data)
        if problem:
            log.debug("local copy of block %d of %s is stale: %s", block.index, self._path, problem)
            return False
        self.blocks_copied += 1
        self._progress.advance(block.size)
        return True

    async def fetch(self, block: RemoteBlock) -> None:
        if self._local_blocks is not None and await self._copy_local(block):
            return
        grant = block.grant
        refreshes = 0
        bad = 0
        problem = ""
        while bad < BAD_BLOCK_ATTEMPTS:
            try:
                data = await self._client.get_block(
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
                problem = await asyncio.to_thread(self._part.write_verified, block, data)
                del data
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


class _TempFile:
    """``.tessera-tmp-<random>`` beside the target; committed by an atomic rename (blocking I/O)."""

    def __init__(self, target: Path, size: int, on_block: BlockSink | None = None) -> None:
        self.target = target
        self._on_block = on_block
        self._guard = UseGuard(f"temp file for {target}")
        self._finish_lock = threading.Lock()  # commit and discard never interleave
        while True:
            self.path = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
            try:
                self._fd: int | None = os.open(
                    self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666
                )
                break
            except FileExistsError:
                continue
        try:
            try:  # keep the permissions of a file being replaced
                st = os.stat(target)
                if stat.S_ISREG(st.st_mode):
                    os.fchmod(self._fd, stat.S_IMODE(st.st_mode))
            except FileNotFoundError:
                pass
            if size:
                os.ftruncate(self._fd, size)
        except BaseException:
            self.discard()
            raise

    def write_verified(self, block: RemoteBlock, data: bytes | bytearray) -> str:
        """Write ``data`` at the block's offset if it matches the block's hashes; else say why not."""
        got = hash_block(data)
        want = BlockHash(block.size, block.md5, block.sha256)
        if got != want:
            if got.size != want.size:
                return f"size {got.size}, expected {want.size}"
            return f"content does not match its hashes (got sha256 {got.sha256[:16]}..., expected {want.sha256[:16]}...)"
        view = memoryview(data)
        offset = block.index * BLOCK_SIZE
        if self._on_block is not None:
            self._on_block(block, view)
        with self._guard.use():
            assert self._fd is not None
            while view:
                n = os.pwrite(self._fd, view, offset)
                view, offset = view[n:], offset + n
        return ""

    def commit(self, check_target: TargetCheck | None = None, replace: bool = True) -> os.stat_result:
        """fsync, check, rename over the target (or link, without ``replace``), fsync the folder.

        Returns the file's stat taken before the rename.
        """
        with self._finish_lock:
            if not self._guard.close() or self._fd is None:
                raise ValueError("temp file already closed")
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
                written = os.fstat(fd)
            finally:
                os.close(fd)
            if check_target is not None:
                check_target(self.target)
            if replace:
                os.replace(self.path, self.target)
            else:
                _link_no_replace(self.path, self.target)
            dir_fd = os.open(self.target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            return written

    def discard(self) -> None:
        """Close (once no write is running) and remove the temp file."""
        with self._finish_lock:
            self._guard.close()
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def _link_no_replace(src: Path, dst: Path) -> None:
    """Give ``src`` the name ``dst`` unless ``dst`` exists (FileExistsError), atomically if possible.

    A hard link fails atomically on an existing name; on a file system without
    hard links the existence check and the rename are two steps.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "File exists", str(dst)) from None
        os.replace(src, dst)
        return
    os.unlink(src)
