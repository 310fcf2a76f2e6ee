"""The layout of the sync state database (:class:`client.sync.state.database.SyncState`): schema and rows.

It holds what :class:`~client.sync.state.database.SyncState` is built on, apart from its
methods: the SQLite schema and its migrations (the version is the
``user_version`` pragma; :func:`prepare` applies them), the row types its methods take and return
(:class:`LocalEntry`, :class:`RemoteEntry`, :class:`BlockRecord`,
:class:`FoundBlock`, :class:`UploadRecord`), and the small pure helpers its
queries share (path-key ranges of a subtree, tree names, the validation of a
change-feed entry). Nothing here touches the database but :func:`prepare`;
:mod:`client.sync.state.database` re-exports the row types, so callers import them from there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from client.sync.plan.tree import FILE, FOLDER, Kind, Node
from protocol import paths
from protocol.errors import BadPath, ProtocolError

DB_NAME = "sync.sqlite3"
SCHEMA_VERSION = 2
TreeName = Literal["local", "remote", "synced"]
_TREES = ("local", "remote", "synced")


_SCHEMA_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE local (
    path_key     TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    size         INTEGER,
    mtime_ns     INTEGER,
    inode        INTEGER,
    content_hash TEXT,
    scanned_at   REAL NOT NULL
) WITHOUT ROWID;

CREATE TABLE remote (
    path_key     TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    rev          INTEGER,
    size         INTEGER,
    content_hash TEXT
) WITHOUT ROWID;

CREATE TABLE synced (
    path_key     TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    rev          INTEGER,
    content_hash TEXT
) WITHOUT ROWID;

CREATE TABLE block_index (
    path_key TEXT NOT NULL REFERENCES local (path_key) ON DELETE CASCADE ON UPDATE CASCADE,
    idx      INTEGER NOT NULL,
    xxh3_64  TEXT NOT NULL,
    sha256   TEXT NOT NULL,
    md5      TEXT NOT NULL,
    size     INTEGER NOT NULL,
    PRIMARY KEY (path_key, idx)
) WITHOUT ROWID;
CREATE INDEX block_index_sha256 ON block_index (sha256);

CREATE TABLE uploads (
    path_key     TEXT PRIMARY KEY,
    path         TEXT NOT NULL,
    upload_id    TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    created_at   REAL NOT NULL
) WITHOUT ROWID;
"""

#: version 2: the shared folders mounted in the tree (client.sync.state.mounts); the cursor is
#: dropped so that the next pull lists the tree again, mount points (and roles) included
_SCHEMA_V2 = """
CREATE TABLE mounts (
    path_key TEXT PRIMARY KEY,
    path     TEXT NOT NULL,
    role     TEXT NOT NULL,
    gone     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
DELETE FROM meta WHERE key = 'cursor';
"""

#: migrations by the version they produce; each runs in one transaction
MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2}


class StateError(Exception):
    """The sync state database cannot be used."""


def prepare(
    db: sqlite3.Connection, name: object, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
) -> None:
    """Set the connection up (WAL, ``synchronous = NORMAL``, foreign keys) and bring the database
    ``name`` to :data:`SCHEMA_VERSION`, each migration in one ``transaction``; StateError if a
    newer Tessera wrote it."""
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StateError(f"{name} was written by a newer Tessera (schema {version}, this one knows {SCHEMA_VERSION})")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with transaction() as tx:
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    tx.execute(statement)
            tx.execute(f"PRAGMA user_version = {target}")


@dataclass(frozen=True, slots=True)
class LocalEntry:
    """A row of the local tree: a file or folder the last scan found."""

    path: str
    kind: Kind
    size: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    content_hash: str | None = None
    #: when the row was last (re)computed (unix seconds)
    scanned_at: float = 0.0

    @property
    def key(self) -> str:
        return paths.path_key(self.path)

    def node(self) -> Node:
        return Node(self.kind, self.path, self.content_hash)


class FoundBlock(NamedTuple):
    """Where the block index has a block: the file's row and the block's xxh3-64, as one snapshot."""

    path: str
    idx: int
    xxh3_64: str
    #: the row of the file (see :class:`LocalEntry`), when the block's xxh3 was computed
    size: int | None
    mtime_ns: int | None
    inode: int | None
    scanned_at: float


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """A row of the remote tree (``size`` is kept for progress reports)."""

    path: str
    kind: Kind
    rev: int | None = None
    size: int | None = None
    content_hash: str | None = None

    @property
    def key(self) -> str:
        return paths.path_key(self.path)

    def node(self) -> Node:
        return Node(self.kind, self.path, self.content_hash, self.rev)


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """One 4 MiB block of a local file: where it is and its hashes."""

    idx: int
    xxh3_64: str  # hex
    sha256: str  # hex
    md5: str  # hex
    size: int


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """A resumable upload session: valid while the file still has this size, mtime and content."""

    path: str
    upload_id: str
    size: int
    mtime_ns: int
    content_hash: str
    created_at: float

    @property
    def key(self) -> str:
        return paths.path_key(self.path)


def subtree_clause(column: str = "path_key") -> str:
    # keys below a folder sort between "key/" and "key0" ("0" follows "/")
    return f"({column} = ? OR ({column} >= ? AND {column} < ?))"


def subtree_args(key: str) -> tuple[str, str, str]:
    if key == paths.ROOT:
        return key, "/", "0"
    return key, key + "/", key + "0"


def feed_entry(e: Mapping[str, Any]) -> tuple[str, str]:
    """The kind and normalised path of a change-feed entry; ProtocolError if it is malformed."""
    kind = e.get("kind")
    if kind not in (FILE, FOLDER, "deleted", "pending"):
        raise ProtocolError(f"change feed entry with unknown kind {kind!r}")
    try:
        path = paths.normalize(e.get("path"))
    except BadPath as exc:
        raise ProtocolError(f"change feed entry with a bad path: {exc.message}") from None
    if path == paths.ROOT:
        raise ProtocolError("change feed entry for the root folder")
    if kind == FILE:
        rev, h = e.get("rev"), e.get("content_hash")
        if not isinstance(rev, int) or isinstance(rev, bool) or not isinstance(h, str):
            raise ProtocolError(f"change feed file entry {path!r} without rev or content_hash")
    return kind, path


def check_tree(tree: str) -> str:
    if tree not in _TREES:
        raise ValueError(f"unknown tree {tree!r}")
    return tree
