"""The trash: what was deleted, kept until it is restored, purged, or its retention runs out.

A delete (:func:`metaserver.tree.ops.delete`) moves the deleted subtree's entries here, one
row each, and journals them as deleted like before. The row of the entry the user deleted
(a file, or a folder: an *item*) has no ``top_id``, says when, by whom and from which device
it was deleted, and counts the files it holds and the bytes of their last revisions; the
rows deleted with it point to it. A file row keeps the file's last revision (``rev``), so
its whole history (every version of its file) stays with it.

Trash rows are not entries: a path deleted and then written again has a live entry and,
independently, its old self in the trash (restoring that puts it beside the new one:
:mod:`metaserver.tree.trash_restore`). Purging (:mod:`metaserver.tree.purge`) deletes rows
and the versions of their files.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from protocol import paths
from protocol.errors import NotFound
from protocol.messages.lifecycle import TrashEntry
from protocol.search import fold

from .entries import like_prefix
from .journal import Journal

ROOT_KEY = paths.path_key(paths.ROOT)

#: the most rows one listing answers
MAX_LIMIT = 1000

TRASH_COLUMNS = """t.id, t.top_id, t.path, t.path_key, t.kind, t.rev, t.deleted_at, t.device_name, t.files, t.bytes,
                   v.size, v.number, v.file_id, v.content_hash, u.name AS user_name"""
TRASH_FROM = "trash t LEFT JOIN versions v ON v.id = t.rev LEFT JOIN users u ON u.id = t.user_id"


async def put(j: Journal, subtree: list[asyncpg.Record]) -> int:
    """Move a live subtree (entry rows, shallowest first, as :func:`entries.live_subtree` reads
    them) to the trash, as one item (each name folded for search: ``name_fold``, as in entries);
    journal each entry as deleted; returns the item's id."""
    top, rest = subtree[0], subtree[1:]
    seqs = {}
    for row in reversed(subtree):  # deepest first, as a deletion has always been journaled
        seqs[row["path_key"]] = j.add(row["path_key"], row["path"], row["kind"], row["rev"], True)
    sizes = [row["size"] for row in subtree if row["kind"] == "file"]
    item = await j.conn.fetchval(
        """WITH top AS (
               INSERT INTO trash (ns_id, path, path_key, parent_key, kind, rev, seq, user_id, device_name, files, bytes,
                                  name_fold)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $19) RETURNING id
           ), rest AS (
               INSERT INTO trash (ns_id, top_id, path, path_key, parent_key, kind, rev, seq, user_id, device_name,
                                  name_fold)
               SELECT $1, top.id, r.path, r.path_key, r.parent_key, r.kind, r.rev, r.seq, $8, $9, r.name_fold
                 FROM top, unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::bigint[],
                                  $20::text[])
                           WITH ORDINALITY AS r(path, path_key, parent_key, kind, rev, seq, name_fold, i)
                ORDER BY r.i
           ), gone AS (
               DELETE FROM entries WHERE ns_id = $1 AND path_key = ANY($18::text[])
           )
           SELECT id FROM top""",
        j.ns_id,
        top["path"],
        top["path_key"],
        top["parent_key"],
        top["kind"],
        top["rev"],
        seqs[top["path_key"]],
        j.author.user_id,
        j.author.device_name,
        len(sizes),
        sum(sizes),
        [r["path"] for r in rest],
        [r["path_key"] for r in rest],
        [r["parent_key"] for r in rest],
        [r["kind"] for r in rest],
        [r["rev"] for r in rest],
        [seqs[r["path_key"]] for r in rest],
        [r["path_key"] for r in subtree],
        fold(paths.basename(top["path"])),
        [fold(paths.basename(r["path"])) for r in rest],
    )
    j.usage.trashed(sum(sizes))
    return item


async def find(conn: asyncpg.Connection, ns_id: int, path: str, trash_id: int | None = None) -> asyncpg.Record:
    """The trash row at ``path`` (the latest deleted, if several were), or the row ``trash_id``,
    which must be at ``path``; NotFound if there is none."""
    key = paths.path_key(path)
    row = await conn.fetchrow(
        f"""SELECT {TRASH_COLUMNS} FROM {TRASH_FROM}
             WHERE t.ns_id = $1 AND t.path_key = $2 AND ($3::bigint IS NULL OR t.id = $3)
             ORDER BY t.deleted_at DESC, t.id DESC LIMIT 1""",
        ns_id,
        key,
        trash_id,
    )
    if row is None:
        raise NotFound(f"{path} is not in the trash" + (f" as item {trash_id}" if trash_id else ""))
    return row


async def with_everything_below(conn: asyncpg.Connection, ns_id: int, row: asyncpg.Record) -> list[asyncpg.Record]:
    """``row`` and the rows deleted with it below it, shallowest first."""
    item = row["top_id"] or row["id"]
    return await conn.fetch(
        f"""SELECT {TRASH_COLUMNS} FROM {TRASH_FROM}
             WHERE t.ns_id = $1 AND (t.id = $2 OR t.top_id = $2) AND (t.path_key = $3 OR t.path_key LIKE $4)
             ORDER BY length(t.path_key), t.path_key""",
        ns_id,
        item,
        row["path_key"],
        like_prefix(row["path_key"]),
    )


#: where a listing continues: after the row with this (deleted_at, item id, path key)
After = tuple[datetime, int, str]


async def listing(
    conn: asyncpg.Connection, ns_id: int, path: str, after: After | None, limit: int
) -> list[asyncpg.Record]:
    """What was deleted at or below ``path``, at most ``limit`` rows after ``after``: the items
    whose path is ``path`` or below it, and, where ``path`` is a deleted folder, the entries
    deleted in it. Newest first; an item's rows together, its top row first (by path)."""
    key = paths.path_key(path)
    pattern = "/%" if key == ROOT_KEY else like_prefix(key)
    since, item, last_key = after if after is not None else (None, 0, "")
    return await conn.fetch(
        f"""SELECT {TRASH_COLUMNS}, coalesce(t.top_id, t.id) AS item_id FROM {TRASH_FROM}
             WHERE t.ns_id = $1
               AND ((t.top_id IS NULL AND (t.path_key = $2 OR t.path_key LIKE $3))
                    OR (t.top_id IS NOT NULL AND t.parent_key = $2))
               AND ($4::timestamptz IS NULL OR t.deleted_at < $4
                    OR (t.deleted_at = $4 AND (coalesce(t.top_id, t.id) < $5
                                                OR (coalesce(t.top_id, t.id) = $5 AND t.path_key > $6))))
             ORDER BY t.deleted_at DESC, coalesce(t.top_id, t.id) DESC, t.path_key LIMIT $7""",
        ns_id,
        key,
        pattern,
        since,
        item,
        last_key,
        limit,
    )


def entry(row: asyncpg.Record) -> TrashEntry:
    """A trash row as the wire shows it (``GET /v1/trash``, see docs/api.md)."""
    return TrashEntry(
        id=row["id"],
        item=row["top_id"] is None,
        kind=row["kind"],
        path=row["path"],
        name=paths.basename(row["path"]),
        deleted=row["deleted_at"].timestamp(),
        device=row["device_name"],
        user=row["user_name"],
        rev=row["rev"],
        version=row["number"],
        size=row["size"],
        files=row["files"],
        bytes=row["bytes"],
    )
