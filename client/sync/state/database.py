"""The sync daemon's local state: one SQLite database under the config dir.

It holds the three trees of the sync engine, keyed by path key:

- ``local``: what the last scan found on disk (with size, mtime, inode so an unchanged file is
  not hashed again), and per file block its xxHash, MD5 and SHA-256 (``block_index``), so a
  changed file's changed blocks are found without re-hashing the whole file, and blocks present
  locally can be copied instead of downloaded (:meth:`SyncState.find_local_block`);
- ``remote``: what the change feed says the server has;
- ``synced``: the last state both sides agreed on;

plus ``meta`` (the change-feed cursor, the device name, ...), ``uploads`` (resumable upload
sessions) and ``mounts`` (the shared folders in the tree, :mod:`client.sync.state.mounts`).

Every method is **blocking**: callers on the event loop use ``await asyncio.to_thread(state.method,
...)``. One connection is shared by all threads behind a lock, so calls from different worker
threads are safe and each call is atomic; the database runs in WAL mode, and every multi-row
update is one transaction. The schema, its migrations (the version is the ``user_version``
pragma) and the row types are in :mod:`client.sync.state.schema`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from client.sync.plan.tree import FILE, FOLDER, Node, repath
from protocol import paths

from . import mounts
from .mounts import MountRecord
from .schema import (
    DB_NAME,
    BlockRecord,
    FoundBlock,
    LocalEntry,
    RemoteEntry,
    StateError,
    TreeName,
    UploadRecord,
    check_tree,
    feed_entry,
    prepare,
    subtree_args,
    subtree_clause,
)

META_CURSOR = "cursor"
META_DEVICE = "device"


class SyncState:
    """The state database of one synced folder (see the module docstring; all methods block)."""

    def __init__(self, config_dir: str | os.PathLike[str], *, name: str = DB_NAME) -> None:
        directory = Path(config_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / name
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            with self._lock:
                prepare(self._db, self.path, self._tx)
        except BaseException:
            self._db.close()
            raise

    # -- plumbing -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SyncState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested use joins the outer one)."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several writes in one transaction (one commit), e.g. the results of a batch."""
        with self._tx():
            yield

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @property
    def schema_version(self) -> int:
        return self._query("PRAGMA user_version")[0][0]

    # -- meta -------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Set (or with ``None`` remove) a meta value."""
        with self._tx() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def cursor(self) -> str | None:
        """The change-feed cursor the remote tree is at (``None``: list everything)."""
        return self.get_meta(META_CURSOR)

    @property
    def device(self) -> str | None:
        return self.get_meta(META_DEVICE)

    def set_device(self, name: str) -> None:
        self.set_meta(META_DEVICE, name)

    # -- reading trees --------------------------------------------------------------

    def nodes(self, tree: TreeName) -> dict[str, Node]:
        """A whole tree as planner nodes (path key -> :class:`Node`)."""
        check_tree(tree)
        rev = "NULL" if tree == "local" else "rev"
        rows = self._query(f"SELECT path_key, kind, path, content_hash, {rev} FROM {tree}")
        return {key: Node(kind, path, h, r) for key, kind, path, h, r in rows}

    def node(self, tree: TreeName, path: str) -> Node | None:
        check_tree(tree)
        rev = "NULL" if tree == "local" else "rev"
        rows = self._query(
            f"SELECT kind, path, content_hash, {rev} FROM {tree} WHERE path_key = ?", (paths.path_key(path),)
        )
        return Node(*rows[0]) if rows else None

    def local_entries(self) -> dict[str, LocalEntry]:
        rows = self._query(
            "SELECT path_key, path, kind, size, mtime_ns, inode, content_hash, scanned_at FROM local"
        )
        return {r[0]: LocalEntry(*r[1:]) for r in rows}

    def local_entry(self, path: str) -> LocalEntry | None:
        rows = self._query(
            "SELECT path, kind, size, mtime_ns, inode, content_hash, scanned_at FROM local WHERE path_key = ?",
            (paths.path_key(path),),
        )
        return LocalEntry(*rows[0]) if rows else None

    def remote_entry(self, path: str) -> RemoteEntry | None:
        rows = self._query(
            "SELECT path, kind, rev, size, content_hash FROM remote WHERE path_key = ?",
            (paths.path_key(path),),
        )
        return RemoteEntry(*rows[0]) if rows else None

    def count(self, tree: TreeName) -> int:
        return self._query(f"SELECT count(*) FROM {check_tree(tree)}")[0][0]

    # -- the local tree and its block index ---------------------------------------

    def put_local(self, entry: LocalEntry, blocks: Sequence[BlockRecord] | None = None) -> None:
        """Store one local entry; ``blocks`` (if given) replaces its block index."""
        with self._tx() as db:
            self._put_local(db, entry, blocks)

    def apply_scan(
        self,
        upserts: Iterable[tuple[LocalEntry, Sequence[BlockRecord] | None]],
        deleted_keys: Iterable[str],
    ) -> None:
        """Write a scan's result in one transaction: changed entries (with their blocks) and removals.

        A ``None`` block list keeps the entry's current block index.
        """
        with self._tx() as db:
            db.executemany("DELETE FROM local WHERE path_key = ?", [(k,) for k in deleted_keys])
            for entry, blocks in upserts:
                self._put_local(db, entry, blocks)

    @staticmethod
    def _put_local(db: sqlite3.Connection, e: LocalEntry, blocks: Sequence[BlockRecord] | None) -> None:
        key = e.key
        db.execute(
            """INSERT INTO local (path_key, path, kind, size, mtime_ns, inode, content_hash, scanned_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (path_key) DO UPDATE SET
                 path = excluded.path, kind = excluded.kind, size = excluded.size,
                 mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                 content_hash = excluded.content_hash, scanned_at = excluded.scanned_at""",
            (key, e.path, e.kind, e.size, e.mtime_ns, e.inode, e.content_hash, e.scanned_at),
        )
        if e.kind == FOLDER:
            db.execute("DELETE FROM block_index WHERE path_key = ?", (key,))
        elif blocks is not None:
            db.execute("DELETE FROM block_index WHERE path_key = ?", (key,))
            db.executemany(
                "INSERT INTO block_index (path_key, idx, xxh3_64, sha256, md5, size) VALUES (?, ?, ?, ?, ?, ?)",
                [(key, b.idx, b.xxh3_64, b.sha256, b.md5, b.size) for b in blocks],
            )

    def blocks(self, path: str) -> list[BlockRecord]:
        """The block index of a local file, in order (empty if none is known)."""
        rows = self._query(
            "SELECT idx, xxh3_64, sha256, md5, size FROM block_index WHERE path_key = ? ORDER BY idx",
            (paths.path_key(path),),
        )
        return [BlockRecord(*r) for r in rows]

    def find_local_block(self, sha256: str) -> FoundBlock | None:
        """A local file, block index and that block's xxh3-64 where the block with this SHA-256 was at the last scan.

        The file may have changed since: the caller must check the bytes it
        reads (against the SHA-256, or the xxh3 it was indexed with) before using them,
        or check that the file still has the stat of its row (read in the same query). The
        row's stat is the one the block's xxh3 was computed under: a file's size, mtime and
        inode change only together with its block index (a scan or a download writes both
        in one transaction; a move or a scan that finds the file unchanged keeps both).
        """
        rows = self._query(
            """SELECT l.path, b.idx, b.xxh3_64, l.size, l.mtime_ns, l.inode, l.scanned_at
               FROM block_index b JOIN local l USING (path_key)
               WHERE b.sha256 = ? ORDER BY l.path_key, b.idx LIMIT 1""",
            (sha256.lower(),),
        )
        return FoundBlock(*rows[0]) if rows else None

    # -- the remote tree -------------------------------------------------------------

    def apply_changes(self, entries: Iterable[Mapping[str, Any]], cursor: str, *, reset: bool = False) -> int:
        """Apply one page of the change feed and store its cursor, in one transaction.

        ``entries`` are the feed's metadata dicts (docs/api.md, "Change feed"):
        ``file`` and ``folder`` entries are stored, ``deleted`` removes the
        entry and everything below it, and ``pending`` (an upload started
        elsewhere) does not change the tree. ``reset`` (the first page of a
        full listing) empties the remote tree first. Returns the number of
        entries that changed the tree. A malformed entry raises
        :class:`~protocol.errors.ProtocolError` and nothing of the page is kept.
        """
        changed = 0
        with self._tx() as db:
            if reset:
                db.execute("DELETE FROM remote")
                mounts.relisted(db)
            for e in entries:
                kind, path = feed_entry(e)
                key = paths.path_key(path)
                mounts.note(db, kind, path, e)
                if kind == "deleted":
                    db.execute(f"DELETE FROM remote WHERE {subtree_clause()}", subtree_args(key))
                elif kind == FILE:
                    db.execute(
                        """INSERT OR REPLACE INTO remote (path_key, path, kind, rev, size, content_hash)
                           VALUES (?, ?, 'file', ?, ?, ?)""",
                        (key, path, e["rev"], e.get("size"), e["content_hash"]),
                    )
                elif kind == FOLDER:
                    db.execute(
                        "INSERT OR REPLACE INTO remote (path_key, path, kind) VALUES (?, ?, 'folder')",
                        (key, path),
                    )
                else:  # "pending": shown by the UI, never synced
                    continue
                changed += 1
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (META_CURSOR, cursor))
        return changed

    def put_remote(self, entry: RemoteEntry) -> None:
        """Store one remote entry (e.g. from a commit answer, before the feed reports it)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO remote (path_key, path, kind, rev, size, content_hash) VALUES (?, ?, ?, ?, ?, ?)",
                (entry.key, entry.path, entry.kind, entry.rev, entry.size, entry.content_hash),
            )

    def mounts(self) -> list[MountRecord]:
        rows = self._query("SELECT path, role, gone FROM mounts ORDER BY path_key")
        return [MountRecord(p, r, bool(g)) for p, r, g in rows]

    def drop_mount(self, path: str) -> None:
        with self._tx() as db:  # one that went, once its folder is empty
            db.execute("DELETE FROM mounts WHERE path_key = ?", (paths.path_key(path),))

    # -- the synced tree -----------------------------------------------------------------

    def record_synced(self, node: Node) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO synced (path_key, path, kind, rev, content_hash) VALUES (?, ?, ?, ?, ?)",
                (node.key, node.path, node.kind, node.rev, node.content_hash),
            )

    def forget_synced(self, path: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM synced WHERE path_key = ?", (paths.path_key(path),))

    # -- operations on any tree -------------------------------------------------------------

    def delete(self, tree: TreeName, path: str, *, subtree: bool = False) -> int:
        """Remove an entry (and with ``subtree`` everything below it); returns the rows removed.

        Removing local entries removes their block index too.
        """
        check_tree(tree)
        key = paths.path_key(path)
        with self._tx() as db:
            if subtree:
                cur = db.execute(f"DELETE FROM {tree} WHERE {subtree_clause()}", subtree_args(key))
            else:
                cur = db.execute(f"DELETE FROM {tree} WHERE path_key = ?", (key,))
            return cur.rowcount

    def move(self, tree: TreeName, src: str, dst: str) -> int:
        """Move an entry and everything below it to ``dst`` (keys and display paths); returns the rows moved.

        Also a case-only rename (same key). Local block indexes move with their files.
        The move itself happened elsewhere (on disk or on the server); this records it.
        """
        check_tree(tree)
        src_key, dst_key = paths.path_key(src), paths.path_key(dst)
        with self._tx() as db:
            rows = db.execute(
                f"SELECT path_key, path FROM {tree} WHERE {subtree_clause()} ORDER BY path_key",
                subtree_args(src_key),
            ).fetchall()
            if not rows:
                return 0
            top = next((p for k, p in rows if k == src_key), src)
            if dst_key != src_key and paths.is_within(dst, src):
                raise StateError(f"cannot move {src} into itself ({dst})")
            if dst_key != src_key:
                clash = db.execute(
                    f"SELECT path FROM {tree} WHERE {subtree_clause()} LIMIT 1", subtree_args(dst_key)
                ).fetchone()
                if clash is not None:
                    raise StateError(f"cannot move {src} to {dst}: {clash[0]} exists in the {tree} tree")
            for key, path in rows:  # the block index follows by ON UPDATE CASCADE
                new_path = repath(path, top, dst)
                db.execute(
                    f"UPDATE {tree} SET path_key = ?, path = ? WHERE path_key = ?",
                    (paths.path_key(new_path), new_path, key),
                )
            return len(rows)

    # -- resumable uploads --------------------------------------------------------------------

    def save_upload(self, record: UploadRecord) -> None:
        with self._tx() as db:
            r = record
            db.execute(
                """INSERT OR REPLACE INTO uploads (path_key, path, upload_id, size, mtime_ns, content_hash, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (r.key, r.path, r.upload_id, r.size, r.mtime_ns, r.content_hash, r.created_at),
            )

    def get_upload(self, path: str) -> UploadRecord | None:
        rows = self._query(
            "SELECT path, upload_id, size, mtime_ns, content_hash, created_at FROM uploads WHERE path_key = ?",
            (paths.path_key(path),),
        )
        return UploadRecord(*rows[0]) if rows else None

    def uploads(self) -> list[UploadRecord]:
        rows = self._query(
            "SELECT path, upload_id, size, mtime_ns, content_hash, created_at FROM uploads ORDER BY path_key"
        )
        return [UploadRecord(*r) for r in rows]

    def drop_upload(self, path: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM uploads WHERE path_key = ?", (paths.path_key(path),))

    def drop_uploads_before(self, created_before: float | None = None, *, max_age: float = 24 * 3600) -> int:
        """Forget sessions created before ``created_before`` (default: older than ``max_age`` seconds)."""
        cutoff = time.time() - max_age if created_before is None else created_before
        with self._tx() as db:
            return db.execute("DELETE FROM uploads WHERE created_at < ?", (cutoff,)).rowcount
