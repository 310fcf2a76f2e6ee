"""Blocks as files in a local directory.

Layout: ``root/ab/abcdef0123...`` (the first two hex digits of the block id
name a sub-directory, so no directory grows past 1/256 of the blocks). The
256 sub-directories are made when the store starts.

A put streams into a temp file in the block's own directory (so the rename
never crosses a file system), fsyncs it, ``os.replace``-s it onto the final
name and fsyncs the directory: readers see either no block or the whole
verified block, also across a crash. Temp files are dot-files ending in
``.tmp``; they are removed on every failure and never listed. All file system
calls run in worker threads.

:meth:`LocalStore.put_small` stores many small blocks held in memory at once:
each is verified and written to its temp file, all are flushed together
(:class:`client.fs_flush.FlushGroup`: one ``syncfs`` on Linux, else an fsync
each, several at once), then each is renamed into place and the renames are
flushed once more before it returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from client.fs_flush import FlushGroup
from protocol.errors import BlockTooLarge, NotFound, SizeMismatch, TesseraError
from protocol.hashing import BlockHash, hash_block

from .intake import check_hashes, receive_verified
from .store_base import BlockStore, BlockStream, StoredObject, check_block_id, is_block_id
from .threads import run_to_completion

log = logging.getLogger(__name__)

TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
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
        f, tmp = await run_to_completion(_create_temp, final)
        try:
            await receive_verified(body, expected, f.write)
            await run_to_completion(_publish, f, tmp, final)
        except BaseException:
            await run_to_completion(_discard, f, tmp)
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
        return await run_to_completion(
            _put_group, self.root, [(self.path_of(b), data, want) for b, data, want in blocks]
        )

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
        _fsync_dir(root)


def _create_temp(final: Path) -> tuple[BinaryIO, Path]:
    shard = final.parent
    if not shard.is_dir():
        shard.mkdir(parents=True, exist_ok=True)
        _fsync_dir(shard.parent)  # the new shard directory's entry must survive a crash too
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f"{TEMP_PREFIX}{final.name}.", suffix=TEMP_SUFFIX)
    try:
        return os.fdopen(fd, "wb"), Path(name)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise


def _publish(f: BinaryIO, tmp: Path, final: Path) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _discard(f: BinaryIO, tmp: Path) -> None:
    try:
        f.close()
    except OSError as e:  # a failed flush of a block we are dropping anyway
        log.debug("closing discarded temp file %s: %s", tmp, e)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_for_reading(path: Path) -> tuple[BinaryIO, int]:
    f = open(path, "rb")  # closed by _FileStream.aclose
    try:
        return f, os.fstat(f.fileno()).st_size
    except BaseException:
        f.close()
        raise


def _put_group(root: Path, blocks: list[tuple[Path, bytes, BlockHash]]) -> list[TesseraError | None]:
    """Verify and write each block to a temp file, flush them all, publish each, flush the renames.

    The order is :mod:`client.fs_flush`'s: no block is renamed into place before
    its bytes are durable, and the renames are durable before this returns (and
    so before the caller marks any block stored).
    """
    out: list[TesseraError | None] = []
    temps: list[tuple[int, Path, Path]] = []  # fd, temp, final
    # made before the writes, so that the flush reports any write-back error of theirs
    with FlushGroup(root) as flush:
        try:
            for final, data, expected in blocks:
                try:
                    check_hashes(_checked_size(data, expected), expected)
                except TesseraError as e:
                    out.append(e)
                    continue
                f, tmp = _create_temp(final)
                try:
                    f.write(data)
                    f.flush()
                    fd = os.dup(f.fileno())
                except BaseException:
                    _discard(f, tmp)
                    raise
                f.close()
                temps.append((fd, tmp, final))
                out.append(None)
            failed = [err for err in flush.files([fd for fd, _, _ in temps]) if err is not None]
            if failed:
                raise failed[0]
        except BaseException:
            for _, tmp, _ in temps:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        finally:
            for fd, _, _ in temps:
                os.close(fd)
        shards: set[Path] = set()
        for _, tmp, final in temps:
            os.replace(tmp, final)
            shards.add(final.parent)
        flush.folders(shards)
    return out


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
