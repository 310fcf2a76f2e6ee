"""The change feed: the initial listing of a tree, then its journal, page by page.

An empty cursor starts with a consistent snapshot of every live entry (parents
before children), paged by path key; every later page replays the journal
after the cursor's sequence number. Entries changed while the snapshot is paged
are not lost: they have a higher sequence number and come with the journal.
"""

from __future__ import annotations

import asyncpg

from protocol import paths
from protocol.errors import CursorReset
from protocol.messages.changes import ChangesPage
from protocol.messages.files import Metadata

from ..tree import entries
from .cursor import Cursor


def _journal_metadata(row: asyncpg.Record) -> Metadata:
    path = row["path"]
    if row["deleted"]:
        return Metadata("deleted", path, paths.basename(path))
    if row["kind"] in ("pending", "folder"):
        return Metadata(row["kind"], path, paths.basename(path))
    return entries.file_metadata(
        path, row["rev"], row["size"], row["content_hash"], row["version_at"], row["device_name"],
        row["client_modified"],
    )


async def latest(conn: asyncpg.Connection, ns_id: int) -> Cursor:
    return Cursor(ns_id, await conn.fetchval("SELECT last_seq FROM namespaces WHERE id = $1", ns_id))


def check(cursor: Cursor, ns_id: int, last_seq: int) -> None:
    if cursor.ns_id != ns_id or cursor.seq > last_seq:
        raise CursorReset("the cursor does not belong to this account's tree; list again")


async def page(conn: asyncpg.Connection, ns_id: int, cursor: Cursor | None, limit: int) -> ChangesPage:
    """One page of changes after ``cursor`` (None: start with the full listing).

    Runs in a REPEATABLE READ transaction so the snapshot is consistent.
    """
    last_seq = await conn.fetchval("SELECT last_seq FROM namespaces WHERE id = $1", ns_id)
    if cursor is None:
        cursor = Cursor(ns_id, last_seq, "")
    check(cursor, ns_id, last_seq)
    if cursor.listing_after is not None:
        rows = await conn.fetch(
            f"""SELECT {entries.ENTRY_COLUMNS} FROM {entries.ENTRY_FROM}
                 WHERE e.ns_id = $1 AND NOT e.deleted AND e.seq <= $2 AND e.path_key > $3
                 ORDER BY e.path_key LIMIT $4""",
            ns_id,
            cursor.seq,
            cursor.listing_after,
            limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        if more:
            nxt = Cursor(ns_id, cursor.seq, rows[-1]["path_key"])
        else:
            nxt = Cursor(ns_id, cursor.seq)  # listing done: the journal takes over
        has_more = more or last_seq > cursor.seq
        return ChangesPage([entries.metadata(r) for r in rows], nxt.encode(), has_more, cursor.listing_after == "")
    rows = await conn.fetch(
        """SELECT j.seq, j.path, j.kind, j.rev, j.deleted,
                  v.size, v.content_hash, v.device_name, v.created_at AS version_at, v.client_modified
             FROM journal j LEFT JOIN versions v ON v.id = j.rev
            WHERE j.ns_id = $1 AND j.seq > $2 ORDER BY j.seq LIMIT $3""",
        ns_id,
        cursor.seq,
        limit,
    )
    new_seq = rows[-1]["seq"] if rows else cursor.seq
    return ChangesPage([_journal_metadata(r) for r in rows], Cursor(ns_id, new_seq).encode(), new_seq < last_seq, False)
