"""Hashing local files into Tessera blocks, and re-reading single blocks.

Everything here is blocking file I/O and hashing: call it from a thread
(``asyncio.to_thread``), never on the event loop. Blocks are read into buffers
the caller owns (see :mod:`client.transfer.buffers`), so nothing here allocates a
block's worth of memory per block.

Each block is hashed once, by :meth:`LocalFile.hash_block_at`: MD5 and SHA-256
(what the server checks) and an xxh3-64 (cheap, ~20x faster than both). Blocks
can be hashed in parallel threads (hashlib and xxhash release the GIL). When a
block is re-read to be sent, :meth:`LocalFile.read_block` checks the bytes
against that xxh3 rather than hashing them with MD5 and SHA-256 again: the
block server verifies MD5 and SHA-256 of every body it stores anyway, so the
xxh3 only has to catch a file that changed since it was hashed before its
bytes go on the wire.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import xxhash

from client.api.errors import FileChanged
from protocol.hashing import BLOCK_SIZE, BlockHash, content_hash, expected_block_sizes, hash_block
from protocol.times import valid_file_time

from .fileguard import UseGuard

_HAVE_PREADV = hasattr(os, "preadv")
XXH3_HEX_LEN = 16


def xxh3_hex(data: bytes | bytearray | memoryview) -> str:
    """The xxh3-64 of ``data`` as 16 lowercase hex digits (as the sync index keeps it)."""
    return xxhash.xxh3_64_hexdigest(data)


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What tells us a file is unchanged: same inode, size and modification time."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What says a local file is unchanged since it was hashed: size, mtime and inode."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


def wire_mtime(mtime_ns: int) -> float | None:
    """A file's modification time as an upload's ``client_modified`` (Unix seconds), or None for
    a time the server does not take (:func:`protocol.times.valid_file_time`)."""
    seconds = mtime_ns / 1e9
    return seconds if valid_file_time(seconds) else None


@dataclass(frozen=True, slots=True)
class HashedBlock:
    """One block's hashes: the wire's (size, MD5, SHA-256) and the local xxh3-64."""

    wire: BlockHash
    xxh3: str


@dataclass(frozen=True, slots=True)
class FileHash:
    """A file's blocks, their hashes and its content hash."""

    size: int
    blocks: tuple[BlockHash, ...]
    content_hash: str
    #: xxh3-64 (hex) of each block, in order: what a re-read block is checked against
    xxh3: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.xxh3) != len(self.blocks):
            raise ValueError(f"{len(self.xxh3)} xxh3 digests for {len(self.blocks)} blocks")

    @classmethod
    def of(cls, size: int, blocks: Sequence[HashedBlock]) -> FileHash:
        """The file hash of a ``size``-byte file from its blocks (ValueError if they do not add up)."""
        wire = tuple(b.wire for b in blocks)
        if [b.size for b in wire] != expected_block_sizes(size):
            raise ValueError(f"the block sizes do not split {size} bytes into {BLOCK_SIZE}-byte blocks")
        return cls(size, wire, content_hash(b.sha256 for b in wire), tuple(b.xxh3 for b in blocks))


@dataclass(frozen=True, slots=True)
class StampedHash:
    """A file's hashes as a caller computed them, and the stamp the file had then.

    :func:`client.transfer.upload.file.upload_file` uses them instead of hashing
    the file again if the file still has that stamp.
    """

    stamp: FileStamp
    hashed: FileHash

    def __post_init__(self) -> None:
        if self.stamp.size != self.hashed.size:
            raise ValueError(f"hashes of {self.hashed.size} bytes for a file of {self.stamp.size}")


class LocalFile:
    """An open regular file being uploaded; detects changes made to it meanwhile."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: the absolute path (not resolved: a symlink stays itself)
        self.absolute = os.path.abspath(self.path)
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", str(self.path))
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "Not a regular file", str(self.path))
        except BaseException:
            os.close(fd)
            raise
        self._file = os.fdopen(fd, "rb", buffering=0)
        self.identity = FileIdentity.of(st)
        self.stamp = FileStamp.of(st)
        self._guard = UseGuard(str(self.path))

    @property
    def size(self) -> int:
        return self.identity.size

    def close(self) -> None:
        """Close the file once no read is running (blocking)."""
        if self._guard.close():
            self._file.close()

    def check_unchanged(self) -> None:
        """FileChanged if the file was written to, truncated or replaced since it was opened."""
        with self._guard.use():
            now_open = FileIdentity.of(os.fstat(self._file.fileno()))
        try:
            now_named = FileIdentity.of(os.stat(self.path))
        except FileNotFoundError:
            raise FileChanged(
                f"{self.path} was removed while it was being uploaded; nothing was committed"
            ) from None
        if now_open != self.identity or now_named != self.identity:
            raise FileChanged(f"{self.path} changed while it was being uploaded; nothing was committed")

    def block_size_at(self, index: int, block_size: int = BLOCK_SIZE) -> int:
        """The size block ``index`` has in the file as it was opened."""
        size = min(block_size, self.identity.size - index * block_size)
        if size <= 0:
            raise IndexError(f"{self.path} has no block {index}")
        return size

    def hash_block_at(self, index: int, buf: bytearray, block_size: int = BLOCK_SIZE) -> HashedBlock:
        """Read block ``index`` into ``buf`` and hash it (MD5, SHA-256, xxh3).

        Any number of threads may call this at once, each with its own buffer.
        FileChanged if the block is shorter than the file's size at opening says.
        """
        size = self.block_size_at(index, block_size)
        view = memoryview(buf)[:size]
        with self._guard.use():
            got = _pread_into(self._file.fileno(), view, index * block_size)
        if got != size:
            raise FileChanged(f"{self.path} shrank while it was being hashed; nothing was committed")
        return HashedBlock(hash_block(view), xxh3_hex(view))

    def iter_hashes(self, block_size: int = BLOCK_SIZE) -> Iterator[HashedBlock]:
        """Hash the file block by block, in order, in the calling thread."""
        buf = bytearray(min(block_size, self.identity.size))
        for index in range((self.identity.size + block_size - 1) // block_size):
            yield self.hash_block_at(index, buf, block_size)

    def finish_hash(self, blocks: Sequence[HashedBlock]) -> FileHash:
        """The file's hash from all its blocks; FileChanged if it changed while it was hashed."""
        if sum(b.wire.size for b in blocks) != self.identity.size:
            raise FileChanged(f"{self.path} changed size while it was being hashed; nothing was committed")
        self.check_unchanged()
        return FileHash.of(self.identity.size, blocks)

    def read_block(
        self,
        index: int,
        expected: BlockHash,
        xxh3: str,
        buf: bytearray,
        block_size: int = BLOCK_SIZE,
    ) -> memoryview:
        """Re-read block ``index`` into ``buf`` and check it against the xxh3 it was hashed with.

        Returns the part of ``buf`` that holds the block. FileChanged if the
        bytes differ from those that were hashed.
        """
        view = memoryview(buf)[: expected.size]
        offset = index * block_size
        with self._guard.use():
            got = _pread_into(self._file.fileno(), view, offset)
        if got != expected.size or xxh3_hex(view) != xxh3:
            raise FileChanged(
                f"{self.path} changed while it was being uploaded (block {index}); nothing was committed"
            )
        return view


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``offset`` (short only at the end of the file); the bytes read."""
    got = 0
    while got < len(view):
        if _HAVE_PREADV:
            n = os.preadv(fd, [view[got:]], offset + got)
        else:  # no preadv (older macOS): one copy
            data = os.pread(fd, len(view) - got, offset + got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def hash_file(path: str | os.PathLike[str]) -> FileHash:
    """The Tessera block hashes and content hash of a local file (blocking, one thread)."""
    f = LocalFile(path)
    try:
        return f.finish_hash(list(f.iter_hashes()))
    finally:
        f.close()
