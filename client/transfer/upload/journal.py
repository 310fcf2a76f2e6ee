"""The upload journal: the upload sessions this client opened and has not committed yet.

An upload records its session here as soon as the server has opened it, and
forgets it after the commit. When the same upload runs again (the client was
killed, the network went away, the user pressed Ctrl-C), the record says which
session to resume and holds the file's block hashes, so an unchanged file is
not hashed again and only the blocks the server still needs are sent.

A record is found by (server, remote path, absolute local path) and is used
only if the local file still has the same size, modification time and inode,
and the upload the same mode and parent revision; anything else starts a new
session. The server decides the rest: an expired or unknown session starts
over too.

The journal is a cache, never a source of truth: it lives in a SQLite file
(stdlib ``sqlite3``, WAL mode, the file created 0600), every query runs in a
worker thread, and a journal that cannot be opened or written (read-only
folder, full disk, a file that is not a database) is logged once and then
behaves as an empty one, so uploads still work without resuming.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from client.transfer.filehash import FileHash, FileStamp, HashedBlock
from protocol.hashing import BlockHash, expected_block_sizes

log = logging.getLogger(__name__)

T = TypeVar("T")

#: the journal's file name in the CLI's config folder
FILENAME = "uploads.sqlite3"
#: the table, versioned by name: a new layout gets a new table (the journal is only a cache)
TABLE = "upload_journal_v2"
#: older layouts, dropped when the journal is opened (v1 had no xxh3 per block): their
#: uploads start over once, as a new session
OLD_TABLES = ("upload_journal_v1",)
#: records this long past their session's expiry are deleted (room for clock skew)
EXPIRED_GRACE = 24 * 3600.0
_BUSY_TIMEOUT_MS = 10_000
_MD5_LEN, _SHA_LEN, _XXH3_LEN = 16, 32, 8
_HASH_LEN = _MD5_LEN + _SHA_LEN + _XXH3_LEN

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    server       TEXT    NOT NULL,
    remote_path  TEXT    NOT NULL,
    local_path   BLOB    NOT NULL,  -- os.fsencode of the absolute path
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    inode        INTEGER NOT NULL,  -- as a signed 64-bit integer
    mode         TEXT    NOT NULL,
    parent_rev   INTEGER,
    upload_id    TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    block_count  INTEGER NOT NULL,
    block_hashes BLOB    NOT NULL,  -- md5, sha256, xxh3-64 (raw) of every block, 56 bytes each
    created      REAL    NOT NULL,
    expires_at   REAL    NOT NULL,
    PRIMARY KEY (server, remote_path, local_path)
)
"""


@dataclass(frozen=True, slots=True)
class UploadKey:
    """Which upload a record belongs to."""

    server: str
    remote_path: str
    #: absolute
    local_path: str


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One upload session opened and not committed yet."""

    upload_id: str
    stamp: FileStamp
    mode: str
    parent_rev: int | None
    hashed: FileHash
    created: float
    #: the server's expiry of the session (server clock, unix seconds)
    expires_at: float

    def matches(self, stamp: FileStamp, mode: str, parent_rev: int | None) -> bool:
        return (self.stamp, self.mode, self.parent_rev) == (stamp, mode, parent_rev)


def pack_hashes(hashed: FileHash) -> bytes:
    return b"".join(
        bytes.fromhex(b.md5) + bytes.fromhex(b.sha256) + bytes.fromhex(x)
        for b, x in zip(hashed.blocks, hashed.xxh3, strict=True)
    )


def unpack_hashes(size: int, raw: bytes) -> FileHash:
    """The hashes of a ``size``-byte file from their packed form (ValueError if inconsistent)."""
    sizes = expected_block_sizes(size)
    if len(raw) != len(sizes) * _HASH_LEN:
        raise ValueError(f"{len(raw)} bytes of hashes for {len(sizes)} blocks")
    out = []
    for i, block_size in enumerate(sizes):
        at = i * _HASH_LEN
        md5, sha, xxh3 = (
            raw[at : at + _MD5_LEN],
            raw[at + _MD5_LEN : at + _MD5_LEN + _SHA_LEN],
            raw[at + _MD5_LEN + _SHA_LEN : at + _HASH_LEN],
        )
        out.append(HashedBlock(BlockHash(block_size, md5.hex(), sha.hex()), xxh3.hex()))
    return FileHash.of(size, out)


def _i64(n: int) -> int:
    """An unsigned 64-bit number (an inode) as SQLite's signed INTEGER."""
    return n - (1 << 64) if n >= 1 << 63 else n


def _u64(n: int) -> int:
    return n + (1 << 64) if n < 0 else n


class UploadJournal:
    """The upload sessions of one client, in a SQLite file (use as an async context manager).

    Safe to share between concurrent uploads of one event loop and between
    processes (SQLite locks the file). All methods are coroutines that run
    their query in a worker thread.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._broken = False
        self._closed = False

    @classmethod
    def in_config_dir(cls, directory: Path) -> UploadJournal:
        return cls(directory / FILENAME)

    async def __aenter__(self) -> UploadJournal:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await asyncio.shield(asyncio.to_thread(self.close))

    def close(self) -> None:
        """Close the database (blocking; waits for a running query)."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()

    # -- the queries --------------------------------------------------------------------------

    async def lookup(self, key: UploadKey) -> JournalEntry | None:
        """The record of ``key``, if there is a readable one."""
        return await self._run(self._lookup, key, default=None)

    async def record(self, key: UploadKey, entry: JournalEntry) -> None:
        """Save ``entry`` as the session of ``key`` (replacing an older one); prunes expired records."""
        await self._run(self._record, key, entry, default=None)

    async def forget(self, key: UploadKey, upload_id: str) -> None:
        """Drop the record of ``key`` if it is still the one of ``upload_id``."""
        await self._run(self._forget, key, upload_id, default=None)

    async def entries(self) -> list[tuple[UploadKey, str]]:
        """Every record's key and upload id (for inspection and tests)."""
        return await self._run(self._entries, default=[])

    # -- plumbing (worker threads) -----------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: object, default: T) -> T:
        def locked() -> T:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"the upload journal {self.path} is closed")
                if self._broken:
                    return default
                try:
                    conn = self._connection()
                except (sqlite3.Error, OSError) as e:
                    self._broken = True  # said once; uploads go on without resuming
                    log.warning("upload journal %s unusable, uploads will not resume: %s", self.path, e)
                    return default
                try:
                    return fn(conn, *args)
                except sqlite3.Error as e:
                    log.warning("upload journal %s: %s failed: %s", self.path, fn.__name__.strip("_"), e)
                    return default

        return await asyncio.to_thread(locked)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            os.close(fd)
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                with conn:
                    for old in OLD_TABLES:
                        conn.execute(f"DROP TABLE IF EXISTS {old}")
                    conn.execute(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @staticmethod
    def _key_args(key: UploadKey) -> tuple[str, str, bytes]:
        return key.server, key.remote_path, os.fsencode(key.local_path)

    def _lookup(self, conn: sqlite3.Connection, key: UploadKey) -> JournalEntry | None:
        row = conn.execute(
            f"""SELECT upload_id, size, mtime_ns, inode, mode, parent_rev, content_hash, block_count,
                      block_hashes, created, expires_at
                 FROM {TABLE} WHERE server = ? AND remote_path = ? AND local_path = ?""",
            self._key_args(key),
        ).fetchone()
        if row is None:
            return None
        upload_id, size, mtime_ns, inode, mode, parent_rev, chash, count, raw, created, expires_at = row
        try:
            hashed = unpack_hashes(size, raw)
            if len(hashed.blocks) != count or hashed.content_hash != chash:
                raise ValueError("the block hashes do not add up to the content hash")
        except (ValueError, TypeError) as e:
            log.warning("upload journal: dropping the unreadable record of %s: %s", key.local_path, e)
            self._forget(conn, key, upload_id)
            return None
        stamp = FileStamp(size, mtime_ns, _u64(inode))
        return JournalEntry(upload_id, stamp, mode, parent_rev, hashed, created, expires_at)

    def _record(self, conn: sqlite3.Connection, key: UploadKey, entry: JournalEntry) -> None:
        hashed = entry.hashed
        with conn:
            conn.execute(f"DELETE FROM {TABLE} WHERE expires_at < ?", (time.time() - EXPIRED_GRACE,))
            conn.execute(
                f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *self._key_args(key),
                    entry.stamp.size,
                    entry.stamp.mtime_ns,
                    _i64(entry.stamp.inode),
                    entry.mode,
                    entry.parent_rev,
                    entry.upload_id,
                    hashed.content_hash,
                    len(hashed.blocks),
                    pack_hashes(hashed),
                    entry.created,
                    entry.expires_at,
                ),
            )

    def _forget(self, conn: sqlite3.Connection, key: UploadKey, upload_id: str) -> None:
        with conn:
            conn.execute(
                f"""DELETE FROM {TABLE}
                    WHERE server = ? AND remote_path = ? AND local_path = ? AND upload_id = ?""",
                (*self._key_args(key), upload_id),
            )

    def _entries(self, conn: sqlite3.Connection) -> list[tuple[UploadKey, str]]:
        rows = conn.execute(
            f"SELECT server, remote_path, local_path, upload_id FROM {TABLE} ORDER BY created"
        ).fetchall()
        return [(UploadKey(s, r, os.fsdecode(p)), u) for s, r, p, u in rows]
