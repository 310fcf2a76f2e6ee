"""Hashing local files into Tessera blocks, and re-reading single blocks.

Everything here is blocking file I/O and hashing: call it from a thread
(``asyncio.to_thread``), never on the event loop. Blocks are read into buffers
the caller owns (see :mod:`client.blockbuf`), so nothing here allocates a
block's worth of memory per block.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from protocol.hashing import BLOCK_SIZE, BlockHash, content_hash, hash_block

from .errors import FileChanged
from .fileguard import UseGuard

_HAVE_PREADV = hasattr(os, "preadv")


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
class FileHash:
    size: int
    blocks: tuple[BlockHash, ...]
    content_hash: str


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

    def hash_next(self, buf: bytearray) -> BlockHash | None:
        """Hash the next block of the file, read into ``buf``; None at the end.

        The first call hashes the first block; ``len(buf)`` is the block size.
        One thread at a time (re-reads with :meth:`read_block` may run meanwhile).
        """
        view = memoryview(buf)
        with self._guard.use():
            got = 0
            while got < len(view):
                n = self._file.readinto(view[got:])
                if not n:
                    break
                got += n
            return hash_block(view[:got]) if got else None

    def iter_hashes(self, block_size: int = BLOCK_SIZE) -> Iterator[BlockHash]:
        """Hash the file from its start, one block per step (drive it from a thread)."""
        with self._guard.use():
            self._file.seek(0)
        buf = bytearray(block_size)
        while (digest := self.hash_next(buf)) is not None:
            yield digest
            if digest.size < block_size:
                return

    def finish_hash(self, hashes: Sequence[BlockHash]) -> FileHash:
        """The file's hash from all its block hashes; FileChanged if it changed while hashed."""
        total = sum(h.size for h in hashes)
        if total != self.identity.size:
            raise FileChanged(f"{self.path} changed size while it was being hashed; nothing was committed")
        self.check_unchanged()
        return FileHash(total, tuple(hashes), content_hash(h.sha256 for h in hashes))

    def read_block(
        self, index: int, expected: BlockHash, buf: bytearray, block_size: int = BLOCK_SIZE
    ) -> memoryview:
        """Re-read block ``index`` into ``buf`` and check it still has the hash it was uploaded under.

        Returns the part of ``buf`` that holds the block.
        """
        view = memoryview(buf)[: expected.size]
        offset = index * block_size
        with self._guard.use():
            got = _pread_into(self._file.fileno(), view, offset)
            intact = got == expected.size and hash_block(view) == expected
        if not intact:
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
    """The Tessera block hashes and content hash of a local file (blocking)."""
    f = LocalFile(path)
    try:
        return f.finish_hash(list(f.iter_hashes()))
    finally:
        f.close()
