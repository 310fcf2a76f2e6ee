"""Versions: a file's immutable revisions, copied (restores) and deleted (purges, pruning).

Each version belongs to one file (``file_id``: the id of the file's first version) and has a
number within it (1 = the first). A commit onto a live file, a restore and a move keep the
file; a commit where no file is gives a new one. Versions a live entry or the trash points to
are never deleted here: :func:`delete` skips them (and the foreign key of ``entries.rev``
would refuse it anyway).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from .journal import Journal

#: the ``versions`` columns a restore copies
COPY_COLUMNS = "id, file_id, number, size, content_hash, block_count, client_modified"


async def insert_copy(
    j: Journal, path: str, source: asyncpg.Record, number: int, replaced_rev: int | None
) -> tuple[int, Any]:
    """A new version of ``source``'s file at ``path`` with ``source``'s content, numbered
    ``number``; its blocks are ``source``'s (shared, not copied), so no block is fresh.
    Returns its rev and creation time."""
    row = await j.conn.fetchrow(
        """WITH v AS (
               INSERT INTO versions (ns_id, path, size, content_hash, block_count, parent_rev, device_name, user_id,
                                     client_modified, file_id, number)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id, created_at
           ), vb AS (
               INSERT INTO version_blocks (version_id, idx, block_id)
               SELECT v.id, b.idx, b.block_id FROM v, version_blocks b WHERE b.version_id = $12
           )
           SELECT id, created_at FROM v""",
        j.ns_id,
        path,
        source["size"],
        source["content_hash"],
        source["block_count"],
        replaced_rev,
        j.author.device_name,
        j.author.user_id,
        source["client_modified"],
        source["file_id"],
        number,
        source["id"],
    )
    return row["id"], row["created_at"]


async def of_file(conn: asyncpg.Connection, ns_id: int, file_id: int, limit: int) -> list[asyncpg.Record]:
    """The versions of a file, newest first (at most ``limit``), with the name of their author."""
    return await conn.fetch(
        """SELECT v.id, v.number, v.path, v.size, v.content_hash, v.created_at, v.device_name, v.client_modified,
                  u.name AS user_name
             FROM versions v LEFT JOIN users u ON u.id = v.user_id
            WHERE v.ns_id = $1 AND v.file_id = $2 ORDER BY v.id DESC LIMIT $3""",
        ns_id,
        file_id,
        limit,
    )


async def delete(conn: asyncpg.Connection, ns_id: int, version_ids: list[int]) -> tuple[int, int, int]:
    """Delete those of ``version_ids`` that are in namespace ``ns_id`` and that no live entry and
    no trash row points to; returns (versions deleted, their bytes, bytes of blocks that lost
    their last reference with them).

    Run under the namespace lock (a :class:`Journal`): no other change of the namespace's
    versions interleaves, so the blocks found unreferenced here stay so until the commit
    (garbage collection then deletes them after its grace period). A block is freed for the
    namespace when no other version of the namespace lists it (another namespace's versions
    may still: a move between namespaces links the blocks, metaserver/sharing/crossmove.py;
    each namespace counts the blocks its versions list, see metaserver/tree/usage.py).
    """
    if not version_ids:
        return 0, 0, 0
    row = await conn.fetchrow(
        """WITH doomed AS (
               SELECT v.id, v.size FROM versions v
                WHERE v.ns_id = $1 AND v.id = ANY($2::bigint[])
                  AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.rev = v.id)
                  AND NOT EXISTS (SELECT 1 FROM trash t WHERE t.rev = v.id)
           ), freed AS (
               SELECT coalesce(sum(b.size), 0) AS bytes FROM blocks b
                WHERE b.id IN (SELECT vb.block_id FROM version_blocks vb WHERE vb.version_id IN (SELECT id FROM doomed))
                  AND NOT EXISTS (SELECT 1 FROM version_blocks x JOIN versions xv ON xv.id = x.version_id
                                   WHERE x.block_id = b.id AND xv.ns_id = $1 AND x.version_id NOT IN (SELECT id FROM doomed))
           ), gone AS (
               DELETE FROM versions v WHERE v.id IN (SELECT id FROM doomed) RETURNING v.size
           )
           SELECT (SELECT count(*) FROM gone) AS n, (SELECT coalesce(sum(size), 0)::bigint FROM gone) AS bytes,
                  (SELECT bytes FROM freed) AS freed""",
        ns_id,
        version_ids,
    )
    return row["n"], row["bytes"], row["freed"]
