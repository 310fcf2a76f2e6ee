"""Blocks as files in a local directory.

Layout: ``root/ab/abcdef0123...`` (the first two hex digits of the block id
name a sub-directory, so no directory grows past 1/256 of the blocks). The
256 sub-directories are made when the store starts.

A put streams into a temp file in the block's own directory (so the rename
never crosses a file system), fsyncs it, ``os.replace``-s it onto the final
name and fsyncs the directory: readers see either no block or the whole
verified block, also across a crash. Temp files are dot-files ending in
``.tmp`` (:mod:`protocol.fs.atomic`); they are removed on every failure and
never listed. All file system calls run in worker threads.

:meth:`LocalStore.put_small` stores many small blocks held in memory at once:
each is verified and written to a file with no name yet (``O_TMPFILE``,
:mod:`blockserver.stores.unnamed_files`; a temp file where that is not possible), all
are flushed together (:class:`protocol.fs.flush.FlushGroup`: one ``syncfs`` on
Linux, else an fsync each, several at once), then each is given its final name
and the names are flushed once more before it returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from protocol.errors import BlockTooLarge, NotFound, SizeMismatch, TesseraError
from protocol.fs.atomic import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    create_temp,
    discard,
    fsync_dir,
    open_temp,
    publish,
    temp_name,
    write_atomic,
)
from protocol.fs.flush import FlushGroup
from protocol.hashing import BlockHash, hash_block

from ..threads import run_to_completion
from .base import DISK_FULL, BlockStore, BlockStream, StoredObject, check_block_id, is_block_id, out_of_space
from .intake import check_hashes, receive_verified
from .unnamed_files import name_unnamed, open_unnamed

log = logging.getLogger(__name__)

#: objects beside the blocks (the deployment marker, readiness probes) are files at the root:
#: never in a shard, so never listed or swept
#: the sub-directories of the root: the first two hex digits of the block ids in them
SHARD_DIRS = frozenset(f"{i:02x}" for i in range(256))
#: a block file is streamed out in pieces of this size: one worker-thread hop each, so fewer is
#: cheaper (a 4 MiB block is 4 hops, not 16); memory is one piece per GET in progress
FILE_READ_PIECE = 1024 * 1024


class LocalStore(BlockStore):
    """A block store in a directory on local disk (or any POSIX file system)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    async def start(self) -> None:
        await run_to_completion(_make_shards, self.root)

    async def close(self) -> None:
        return None  # nothing held between calls

    def path_of(self, block_id: str) -> Path:
        """Where the block lives: ``root/ab/abcdef...``."""
        check_block_id(block_id)
        return self.root / block_id[:2] / block_id

    async def put(self, block_id: str, body: AsyncIterator[bytes], expected: BlockHash) -> None:
        final = self.path_of(block_id)
        try:
            f, tmp = await run_to_completion(_create_temp, final)
            try:
                await receive_verified(body, expected, f.write)
                await run_to_completion(publish, f, tmp, final)
            except BaseException:
                await run_to_completion(discard, f, tmp)
                raise
        except OSError as e:
            if e.errno in DISK_FULL:
                raise out_of_space(self, e) from None
            raise

    async def open(self, block_id: str) -> tuple[int, BlockStream]:
        path = self.path_of(block_id)
        try:
            f, size = await run_to_completion(_open_for_reading, path)
        except FileNotFoundError:
            raise NotFound(f"no block {block_id}") from None
        return size, _FileStream(f)

    async def put_small(self, blocks: list[tuple[str, bytes, BlockHash]]) -> list[TesseraError | None]:
        """Verify and write every block, fsync them together, then publish each (one worker-thread call).

        Every block is fsynced before any is renamed into place, and each
        shard directory is fsynced once after its renames, before this returns.
        """
        try:
            return await run_to_completion(
                _put_group, self.root, [(self.path_of(b), data, want) for b, data, want in blocks]
            )
        except OSError as e:
            if e.errno in DISK_FULL:
                raise out_of_space(self, e) from None
            raise

    async def read_small(self, block_ids: list[str]) -> list[bytes | None]:
        """Every block read in one worker-thread call (the caller bounds the total size)."""
        return await run_to_completion(_read_files, [self.path_of(b) for b in block_ids])

    async def size(self, block_id: str) -> int:
        path = self.path_of(block_id)
        try:
            st = await run_to_completion(os.stat, path)
        except FileNotFoundError:
            raise NotFound(f"no block {block_id}") from None
        return st.st_size

    async def exists(self, block_id: str) -> bool:
        return await run_to_completion(os.path.isfile, self.path_of(block_id))

    async def delete(self, block_id: str) -> None:
        path = self.path_of(block_id)
        await run_to_completion(path.unlink, missing_ok=True)

    async def list_ids(self) -> AsyncIterator[str]:
        subdirs = await run_to_completion(_list_dir, self.root)
        for sub in sorted(subdirs):
            if sub not in SHARD_DIRS:
                continue
            for name in await run_to_completion(_list_dir, self.root / sub):
                # temp files start with a dot and so are never block ids
                if is_block_id(name) and name.startswith(sub):
                    yield name

    async def list_objects(self) -> AsyncIterator[StoredObject]:
        subdirs = await run_to_completion(_list_dir, self.root)
        for sub in sorted(subdirs):
            if sub not in SHARD_DIRS:
                continue
            for block_id, mtime in await run_to_completion(_scan_blocks, self.root / sub):
                yield StoredObject(block_id, mtime)

    async def read_aside(self, name: str) -> bytes | None:
        try:
            return await run_to_completion((self.root / name).read_bytes)
        except FileNotFoundError:
            return None

    async def write_aside(self, name: str, data: bytes) -> None:
        await run_to_completion(write_atomic, self.root / name, data)

    async def delete_aside(self, name: str) -> None:
        await run_to_completion((self.root / name).unlink, missing_ok=True)

    async def sweep_temp(self, max_age: float, *, dry_run: bool = False) -> int:
        """Remove temp files (``.<id>.<random>.tmp``) not written to for ``max_age`` seconds.

        Only a crash of the process or machine mid-put leaves one behind; a put
        in progress writes its temp file at least every ``put_idle_timeout``, so
        keep ``max_age`` well above that.
        """
        cutoff = time.time() - max_age
        removed = 0
        for sub in sorted(await run_to_completion(_list_dir, self.root)):
            if sub in SHARD_DIRS:
                removed += await run_to_completion(_sweep_temp_files, self.root / sub, cutoff, dry_run)
        return removed


class _FileStream(BlockStream):
    """Reads an open block file in :data:`FILE_READ_PIECE` pieces, in worker threads."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    async def __anext__(self) -> bytes:
        if self._f.closed:
            raise StopAsyncIteration
        piece = await run_to_completion(self._f.read, FILE_READ_PIECE)
        if not piece:
            await self.aclose()
            raise StopAsyncIteration
        return piece

    async def aclose(self) -> None:
        if not self._f.closed:
            await run_to_completion(self._f.close)

    def fileno(self) -> int | None:
        return None if self._f.closed else self._f.fileno()


# -- the blocking parts, each run in a worker thread ---------------------------


def _make_shards(root: Path) -> None:
    """The root and its 256 shard directories, made once, so that no put has to create one
    (and fsync the root) on its way."""
    root.mkdir(parents=True, exist_ok=True)
    made = False
    for shard in sorted(SHARD_DIRS):
        try:
            (root / shard).mkdir()
            made = True
        except FileExistsError:
            pass
    if made:
        fsync_dir(root)


def _ensure_shard(shard: Path) -> None:
    if not shard.is_dir():
        shard.mkdir(parents=True, exist_ok=True)
        fsync_dir(shard.parent)  # the new shard directory's entry must survive a crash too


def _create_temp(final: Path) -> tuple[BinaryIO, Path]:
    _ensure_shard(final.parent)
    return create_temp(final)


def _open_for_reading(path: Path) -> tuple[BinaryIO, int]:
    f = open(path, "rb")  # closed by _FileStream.aclose
    try:
        return f, os.fstat(f.fileno()).st_size
    except BaseException:
        f.close()
        raise


def _put_group(root: Path, blocks: list[tuple[Path, bytes, BlockHash]]) -> list[TesseraError | None]:
    """Verify and write each block to an unnamed (or temp) file, flush them all, name each, flush
    the names.

    The order is :mod:`protocol.fs.flush`'s: no block gets its final name before
    its bytes are durable, and the names are durable before this returns (and
    so before the caller marks any block stored).
    """
    out: list[TesseraError | None] = []
    staged: list[tuple[int, Path, Path | None]] = []  # fd, final name, temp name (None: unnamed)
    shards: set[Path] = set()
    # made before the writes, so that the flush reports any write-back error of theirs
    with FlushGroup(root) as flush:
        try:
            for final, data, expected in blocks:
                try:
                    check_hashes(_checked_size(data, expected), expected)
                except TesseraError as e:
                    out.append(e)
                    continue
                staged.append(_stage(final, data))
                out.append(None)
            failed = [err for err in flush.files([fd for fd, _, _ in staged]) if err is not None]
            if failed:
                raise failed[0]
            for fd, final, tmp in staged:
                _name(fd, final, tmp)
                shards.add(final.parent)
        except BaseException:
            for _, _, tmp in staged:
                if tmp is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
            raise
        finally:
            for fd, _, _ in staged:
                os.close(fd)
        flush.folders(shards)
    return out


def _stage(final: Path, data: bytes) -> tuple[int, Path, Path | None]:
    """``data`` in a new file for ``final``: unnamed where the OS allows, else a temp file beside it."""
    _ensure_shard(final.parent)
    tmp: Path | None = None
    fd = open_unnamed(final.parent)
    if fd is None:
        fd, tmp = open_temp(final)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    return fd, final, tmp


def _name(fd: int, final: Path, tmp: Path | None) -> None:
    """Give the staged file its final name, replacing a file already there."""
    if tmp is None:
        try:
            name_unnamed(fd, final)
            return
        except FileExistsError:  # an earlier attempt's file: named aside first, then replaced
            aside = temp_name(final)
            name_unnamed(fd, aside)
            try:
                os.replace(aside, final)
            except BaseException:
                aside.unlink(missing_ok=True)
                raise
            return
    os.replace(tmp, final)


def _checked_size(data: bytes, expected: BlockHash) -> BlockHash:
    if len(data) > expected.size:
        raise BlockTooLarge(
            f"the body is longer than the {expected.size} bytes granted for the block", size=expected.size
        )
    if len(data) < expected.size:
        raise SizeMismatch(
            f"the body ended after {len(data)} of the {expected.size} bytes granted for the block",
            size=expected.size,
            received=len(data),
        )
    return hash_block(data)


def _read_files(files: list[Path]) -> list[bytes | None]:
    out: list[bytes | None] = []
    for path in files:
        try:
            with open(path, "rb") as f:
                out.append(f.read())
        except FileNotFoundError:
            out.append(None)
    return out


def _scan_blocks(shard: Path) -> list[tuple[str, float]]:
    out = []
    try:
        entries = list(os.scandir(shard))
    except FileNotFoundError:
        return out
    for entry in entries:
        # temp files start with a dot and so are never block ids
        if is_block_id(entry.name) and entry.name.startswith(shard.name):
            try:
                out.append((entry.name, entry.stat(follow_symlinks=False).st_mtime))
            except FileNotFoundError:
                continue  # deleted since the listing
    return out


def _is_temp_name(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX) and is_block_id(name[1:33])


def _sweep_temp_files(shard: Path, cutoff: float, dry_run: bool) -> int:
    removed = 0
    try:
        entries = list(os.scandir(shard))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not _is_temp_name(entry.name):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime > cutoff:
                continue
            if not dry_run:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue  # its put finished or failed meanwhile
        log.info("removed stale temp file %s", entry.path)
        removed += 1
    return removed


def _list_dir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
