"""Hashing local files into Tessera blocks, and re-reading single blocks.

Everything here is blocking file I/O and hashing: call it from a thread
(``asyncio.to_thread``), never on the event loop. Memory is one block at a time.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from protocol.chunker import iter_blocks
from protocol.hashing import BLOCK_SIZE, BlockHash, content_hash, hash_block

from .errors import FileChanged
from .fileguard import UseGuard


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

    def iter_hashes(self, block_size: int = BLOCK_SIZE) -> Iterator[BlockHash]:
        """Hash the file from its start, one block per step (drive it from a thread)."""
        with self._guard.use():
            self._file.seek(0)
        chunks = iter_blocks(self._file, block_size)
        while True:
            with self._guard.use():
                data = next(chunks, None)
                if data is None:
                    return
                digest = hash_block(data)
            del data
            yield digest

    def finish_hash(self, hashes: Sequence[BlockHash]) -> FileHash:
        """The file's hash from all its block hashes; FileChanged if it changed while hashed."""
        total = sum(h.size for h in hashes)
        if total != self.identity.size:
            raise FileChanged(f"{self.path} changed size while it was being hashed; nothing was committed")
        self.check_unchanged()
        return FileHash(total, tuple(hashes), content_hash(h.sha256 for h in hashes))

    def read_block(self, index: int, expected: BlockHash, block_size: int = BLOCK_SIZE) -> bytes:
        """Re-read block ``index`` and check it still has the hash it was uploaded under."""
        offset = index * block_size
        with self._guard.use():
            fd = self._file.fileno()
            data = os.pread(fd, expected.size, offset)
            while len(data) < expected.size:  # pread may return short; fill up or detect truncation
                more = os.pread(fd, expected.size - len(data), offset + len(data))
                if not more:
                    break
                data += more
            intact = len(data) == expected.size and hash_block(data) == expected
        if not intact:
            raise FileChanged(
                f"{self.path} changed while it was being uploaded (block {index}); nothing was committed"
            )
        return data


def hash_file(path: str | os.PathLike[str]) -> FileHash:
    """The Tessera block hashes and content hash of a local file (blocking)."""
    f = LocalFile(path)
    try:
        return f.finish_hash(list(f.iter_hashes()))
    finally:
        f.close()
