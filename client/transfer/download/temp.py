"""The temp file a download writes: verified blocks in, one atomic rename out (blocking I/O).

``.tessera-tmp-<random>`` is created beside the target, sized up front, and
filled block by block at ``index * BLOCK_SIZE``, from any number of worker
threads at once. A block is checked against its size and SHA-256 (its
identity, the stronger of its two hashes; MD5 adds nothing after it):

- a downloaded block (:meth:`TempFile.write_verified`) is hashed in the pieces
  it arrived in, and written only if it matches: straight to disk (``O_DIRECT``,
  :mod:`client.transfer.download.direct_writes`) where the file system allows, else with one
  ``pwritev`` into the page cache;
- a block read and hashed already (:meth:`TempFile.write_hashed`: the pass
  over an old copy at the target) is written if that hash is the block's;
- a block copied from a local file (:meth:`TempFile.copy_verified`) is copied
  with ``os.copy_file_range`` (in the kernel: no pass through Python; a
  reflink on file systems that share extents) and then verified by reading
  back what landed in the temp file, so a source changed under the copy is
  caught (by the SHA-256, or by the xxh3-64 the sync daemon's block index
  holds for those bytes, see :class:`LocalBlock`). A source the block index
  vouches for by its stat (:attr:`LocalBlock.stamp`) is not read back when it
  keeps that stat from before the copy to after it (the scan's own rule for
  keeping hashes without reading, argued at :meth:`TempFile.copy_verified`).
  Where the kernel cannot copy between the two files, the block is read,
  hashed and written through one small per-thread buffer instead (the checks
  and copies: :mod:`client.transfer.download.block_check`).

A block that fails its check leaves garbage at its offset, which the caller
overwrites with a downloaded block or discards with the whole file: the temp
file becomes visible only through :meth:`TempFile.commit`, which fsyncs it,
renames it over the target (or links it, never replacing anything) and fsyncs
the folder.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import xxhash

from client.transfer.fileguard import UseGuard
from client.transfer.filehash import FileStamp
from protocol.hashing import BLOCK_SIZE
from protocol.messages.blocks import RemoteBlock

from .block_check import BlockCheck, copy_in_kernel, copy_through_buffer, read_back
from .direct_writes import MIN_DIRECT, DirectWriter
from .file_writes import (
    hold_replaced,
    link_no_replace,
    pwrite_all,
    release_replaced,
    set_modified,
    start_writeback,
)

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tessera-tmp-"

#: sees each verified block as it is written, with the xxh3_64 (hex) of its bytes (blocking)
BlockSink = Callable[[RemoteBlock, str], None]
#: runs right before the rename; raising aborts the download and keeps the target (blocking)
TargetCheck = Callable[[Path], None]

@dataclass(frozen=True, slots=True)
class LocalBlock:
    """Where a local file held a block's bytes (to be verified before use).

    With ``xxh3_64`` (the sync daemon's block index: the xxh3-64 of the bytes
    whose SHA-256 is the block's), the copy is checked by that xxh3 alone, as
    the daemon's scan keeps a block's SHA-256 while its xxh3 matches; without
    it, by the SHA-256.

    ``stamp`` (only with ``xxh3_64``): the file's size, mtime and inode when
    that xxh3 was computed, given only where the block index vouches for the
    file by its stat alone (the row is not racy, see
    :func:`client.sync.local.scan.is_racy`); a copy from a file that keeps this
    stamp throughout is not read back (see :meth:`TempFile.copy_verified`).
    """

    path: Path
    offset: int
    xxh3_64: str | None = None
    stamp: FileStamp | None = None


def open_temp_beside(target: Path) -> tuple[Path, int]:
    """A new ``.tessera-tmp-<random>`` beside ``target``, open for reading and writing, with the
    permissions of the regular file it will replace (if any)."""
    while True:
        path = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        st = os.stat(target)
        if stat.S_ISREG(st.st_mode):
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
    except FileNotFoundError:
        pass
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    return path, fd


class TempFile:
    """``.tessera-tmp-<random>`` beside the target; committed by an atomic rename."""

    def __init__(self, target: Path, size: int, on_block: BlockSink | None = None) -> None:
        self.target = target
        self._on_block = on_block
        self._guard = UseGuard(f"temp file for {target}")
        self._finish_lock = threading.Lock()  # commit and discard never interleave
        self._copy_range = hasattr(os, "copy_file_range")
        self.path, fd = open_temp_beside(target)
        self._fd: int | None = fd
        self._direct: DirectWriter | None = None
        try:
            if size:
                os.ftruncate(self._fd, size)
            if size >= MIN_DIRECT:
                self._direct = DirectWriter.open(self.path)
        except BaseException:
            self.discard()
            raise

    def write_verified(self, block: RemoteBlock, pieces: Sequence[bytes | bytearray | memoryview]) -> str:
        """Write the block's bytes (``pieces``, in order) if they match its size and SHA-256; else say why not."""
        check = BlockCheck(self._on_block is not None)
        for piece in pieces:
            check.update(piece)
        problem = check.problem(block)
        if problem:
            return problem
        with self._guard.use():
            self._write(pieces, block)
        self._seen(block, check)
        return ""

    def write_hashed(self, block: RemoteBlock, data: bytes | bytearray | memoryview, sha256: str) -> str:
        """Write ``data``, whose SHA-256 the caller just computed over these very bytes, if it is the block's.

        For bytes read and hashed for another purpose (the pass over an old
        copy): they are not hashed a second time. Else says why not.
        """
        size = memoryview(data).nbytes
        if size != block.size:
            return f"size {size}, expected {block.size}"
        if sha256 != block.sha256:
            return "content does not match its SHA-256"
        with self._guard.use():
            self._write([data], block)
        if self._on_block is not None:
            self._on_block(block, xxhash.xxh3_64_hexdigest(data))
        return ""

    def _write(self, pieces: Sequence[bytes | bytearray | memoryview], block: RemoteBlock) -> None:
        """The block's verified bytes to its offset: straight to disk where the file system
        allows (:mod:`client.transfer.download.direct_writes`), else into the page cache with its write-back started."""
        assert self._fd is not None
        offset = block.index * BLOCK_SIZE
        if self._direct is None or not self._direct.write(self._fd, pieces, offset, block.size):
            pwrite_all(self._fd, pieces, offset)
            start_writeback(self._fd, offset, block.size)

    @property
    def direct_blocks(self) -> int:
        """How many blocks went to disk past the page cache."""
        return self._direct.blocks if self._direct is not None else 0

    def copy_verified(self, block: RemoteBlock, source: LocalBlock) -> str:
        """Copy the block from a local file, then verify what was written; else say why not.

        An unreadable source raises OSError (the caller downloads the block instead).

        Without a read-back, by the stamp: when the source carries a
        :attr:`LocalBlock.stamp` and the open file has exactly that size, mtime
        and inode both before the kernel copies the block and after it has
        copied all of it, the bytes copied are those the xxh3 was computed
        over. This is the rule by which the scan keeps a file's hashes without
        reading it (:func:`client.sync.local.scan.is_racy`): the stamp is offered
        only for a row that is not racy, so its mtime is at least a racy
        window older than the hashing, and any write to the file since the
        hashing (before or during the copy) moved the mtime to a later clock
        tick, which the stat before or the one after the copy shows. The
        check is made on the open file, so a file renamed over the name
        meanwhile does not matter (its inode differs, or it is not the one
        read). Whatever fails the rule (another stamp, a short copy, no
        ``copy_file_range``) is verified by its bytes as before.
        """
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        flags |= getattr(os, "O_CLOEXEC", 0)
        src = os.open(source.path, flags)
        try:
            before = os.fstat(src)
            if not stat.S_ISREG(before.st_mode):
                return "the local copy is not a regular file"
            with self._guard.use():
                check = self._copy(src, before, block, source)
        finally:
            os.close(src)
        if check is None:  # vouched for by the stamp
            assert source.xxh3_64 is not None
            if self._on_block is not None:
                self._on_block(block, source.xxh3_64)
            return ""
        problem = check.problem(block)
        if not problem:
            self._seen(block, check)
        return problem

    def _copy(self, src: int, before: os.stat_result, block: RemoteBlock, source: LocalBlock) -> BlockCheck | None:
        """Copy the block from ``src`` into place; the check of what landed, or None where the
        source's stamp vouches for the bytes (see :meth:`copy_verified`)."""
        assert self._fd is not None
        offset = block.index * BLOCK_SIZE
        copied = copy_in_kernel(src, self._fd, source.offset, offset, block.size) if self._copy_range else None
        if copied is None:
            self._copy_range = False  # the same for every block of this pair of files
        if (
            source.stamp is not None
            and source.xxh3_64 is not None
            and copied == block.size
            and FileStamp.of(before) == source.stamp == FileStamp.of(os.fstat(src))
        ):
            start_writeback(self._fd, offset, block.size)
            return None
        check = BlockCheck(self._on_block is not None, source.xxh3_64)
        if copied is None:
            copy_through_buffer(src, self._fd, source.offset, offset, block.size, check)
        else:
            read_back(self._fd, offset, block.size, check)
        if not check.problem(block):
            start_writeback(self._fd, offset, block.size)
        return check

    def change_stamp(self) -> tuple[int, int, int, int]:
        """The file's inode, size, mtime and ctime (ns), from its open descriptor: any write to it
        changes the ctime."""
        assert self._fd is not None
        st = os.fstat(self._fd)
        return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns

    def keep_staged(self, block: RemoteBlock, xxh3_64: str) -> None:
        """Take the block this file holds as staged, unread (nothing wrote to the file since:
        :meth:`client.transfer.download.staged.StagedPart.unchanged`), reporting it as a written block."""
        if self._on_block is not None:
            self._on_block(block, xxh3_64)

    def check_in_place(self, block: RemoteBlock, xxh3_64: str) -> str:
        """Check the block this file already holds (staged by a prefetch, see :mod:`client.sync.remote.prefetch`)
        against the xxh3-64 taken when it was written after its SHA-256 was verified; else say why not.

        The bytes are read back, so anything that changed them since is caught; a
        block that fails is left for the caller to overwrite with a downloaded one.
        """
        with self._guard.use():
            assert self._fd is not None
            check = BlockCheck(self._on_block is not None, xxh3_64)
            read_back(self._fd, block.index * BLOCK_SIZE, block.size, check)
        problem = check.problem(block)
        if not problem:
            self._seen(block, check)
        return problem

    def move_beside(self, target: Path, on_block: BlockSink | None = None) -> None:
        """Make this file (with the blocks written so far) the temp file of ``target``: renamed to a
        new ``.tessera-tmp-<random>`` beside it, given the permissions of the regular file there (if
        any), its blocks from now on reported to ``on_block``.

        No write may be running. OSError (EXDEV across file systems) leaves the file where it was.
        """
        with self._finish_lock:
            if self._fd is None:
                raise ValueError("temp file already closed")
            while True:
                path = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
                if not os.path.lexists(path):
                    break
            try:
                mode = os.stat(target).st_mode
                if stat.S_ISREG(mode):
                    os.fchmod(self._fd, stat.S_IMODE(mode))
            except FileNotFoundError:
                pass
            os.rename(self.path, path)
            self.path, self.target, self._on_block = path, target, on_block

    def _seen(self, block: RemoteBlock, check: BlockCheck) -> None:
        if self._on_block is not None:
            assert check.xxh is not None
            self._on_block(block, check.xxh.hexdigest())

    def commit(
        self, check_target: TargetCheck | None = None, replace: bool = True, modified: float | None = None
    ) -> os.stat_result:
        """Set the modification time to ``modified`` (:func:`~client.transfer.download.file_writes.set_modified`), fsync,
        check, rename over the target (or link, without ``replace``), fsync the folder.

        A big old version the rename replaces is freed afterwards, in the
        background (:func:`~client.transfer.download.file_writes.hold_replaced`).

        Returns the file's stat taken before the rename.
        """
        with self._finish_lock:
            if not self._guard.close() or self._fd is None:
                raise ValueError("temp file already closed")
            fd, self._fd = self._fd, None
            self._close_direct()
            try:
                set_modified(fd, modified)
                started = time.perf_counter()
                os.fsync(fd)
                written = os.fstat(fd)
                log.debug(
                    "fsync of %s (%d bytes) took %.3f s",
                    self.path,
                    written.st_size,
                    time.perf_counter() - started,
                )
            finally:
                os.close(fd)
            if check_target is not None:
                check_target(self.target)
            old = None
            try:
                if replace:
                    old = hold_replaced(self.target)  # the old version is freed after, not in, the rename
                    os.replace(self.path, self.target)
                else:
                    link_no_replace(self.path, self.target)
                dir_fd = os.open(self.target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            finally:
                release_replaced(old)
            return written

    def discard(self) -> None:
        """Close (once no write is running) and remove the temp file."""
        with self._finish_lock:
            self._guard.close()
            fd, self._fd = self._fd, None
            self._close_direct()
            if fd is not None:
                os.close(fd)
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def _close_direct(self) -> None:
        direct, self._direct = self._direct, None
        if direct is not None:
            if direct.blocks:
                log.debug("%d block(s) of %s written past the page cache", direct.blocks, self.path)
            direct.close()
