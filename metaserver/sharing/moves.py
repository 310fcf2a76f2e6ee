"""Moving a tree from one namespace to another without moving a byte.

:func:`transplant` moves a folder's entries with their files' versions (their whole
history) and re-scopes the blocks those versions reference to the destination namespace (the
dedup scope): sharing a folder and unsharing it. Both namespaces are locked by the caller's
journals (lowest id first), and both get journal rows: deletions in the source, additions
in the destination. Usage counters of both are recounted in the same transaction.

:func:`copy_file` makes a file of one namespace a new file of another whose version lists
the same blocks (a move or copy between namespaces by a user who can write both: nothing
is uploaded again). The blocks stay in their namespace's dedup scope, so the destination's
dedup never finds them: no one learns from it what another namespace stores; each namespace
counts the blocks its versions list (metaserver/tree/usage.py), so both count linked ones.
"""

from __future__ import annotations

import asyncpg

from protocol import paths
from protocol.messages.files import Metadata

from ..tree import entries, ops
from ..tree.journal import Journal
from ..tree.usage import recount


async def _rows_below(conn: asyncpg.Connection, ns_id: int, top: str) -> list[asyncpg.Record]:
    """The live entries strictly below ``top`` (all of them for the root), shallowest first."""
    if top == paths.ROOT:
        return await conn.fetch(
            f"""SELECT {entries.ENTRY_COLUMNS} FROM {entries.ENTRY_FROM} WHERE e.ns_id = $1 AND NOT e.deleted
                 ORDER BY length(e.path_key), e.path_key""",
            ns_id,
        )
    return (await entries.live_subtree(conn, ns_id, paths.path_key(top)))[1:]


async def recount_counters(conn: asyncpg.Connection, ns_id: int) -> None:
    """Set the namespace's usage counters to a recount (after a transplant moved whole files)."""
    u = await recount(conn, ns_id)
    await conn.execute(
        """UPDATE namespaces SET current_bytes = $2, version_bytes = $3, trash_bytes = $4, stored_bytes = $5
            WHERE id = $1""",
        ns_id,
        u.current_bytes,
        u.version_bytes,
        u.trash_bytes,
        u.stored_bytes,
    )


async def transplant(src: Journal, dst: Journal, src_top: str, dst_top: str) -> int:
    """Move everything below ``src_top`` of ``src``'s namespace to below ``dst_top`` of
    ``dst``'s (the tops themselves are not moved: the caller makes or removes them). With
    ``src_top`` the root, the whole namespace moves, its trash included. Returns how many
    entries moved."""
    conn, whole = src.conn, src_top == paths.ROOT
    rows = await _rows_below(conn, src.ns_id, src_top)
    cut = "" if whole else src_top
    base = "" if dst_top == paths.ROOT else dst_top
    for r in reversed(rows):  # deepest first, as a deletion is journaled
        src.add(r["path_key"], r["path"], r["kind"], r["rev"], True)
    await conn.execute(
        "DELETE FROM entries WHERE ns_id = $1 AND path_key = ANY($2::text[])", src.ns_id, [r["path_key"] for r in rows]
    )
    writes = [ops.entry_write(dst, base + r["path"][len(cut):], r["kind"], r["rev"]) for r in rows]
    if writes:
        await ops.write_entries(conn, dst.ns_id, writes)
    file_ids = [r["file_id"] for r in rows if r["kind"] == "file"]
    await conn.execute(
        """UPDATE versions SET ns_id = $2,
                  path = CASE WHEN lower(left(path, length($4))) = lower($4) AND substr(path, length($4) + 1, 1) = '/'
                              THEN $5 || substr(path, length($4) + 1) ELSE path END
            WHERE ns_id = $1 AND ($6 OR file_id = ANY($3::bigint[]))""",
        src.ns_id, dst.ns_id, file_ids, cut, base, whole,
    )  # fmt: skip
    await conn.execute(
        """UPDATE blocks b SET ns_id = $2 WHERE b.ns_id = $1 AND ($4 OR b.id IN (
               SELECT vb.block_id FROM version_blocks vb JOIN versions v ON v.id = vb.version_id
                WHERE v.ns_id = $2 AND v.file_id = ANY($3::bigint[])))""",
        src.ns_id, dst.ns_id, file_ids, whole,
    )  # fmt: skip
    if whole:
        await _move_trash(conn, src.ns_id, dst.ns_id, base)
    # an open upload into the moved tree would land where it no longer is: it expires (the
    # client's commit is refused and it uploads again, to the right place). A session whose
    # commit is in flight (locked, waiting for the namespace) is skipped, not waited for: that
    # wait would be a deadlock; an unshare's refuses it anyway (no role in an unshared namespace)
    await conn.execute(
        """UPDATE upload_sessions SET expires_at = least(expires_at, now())
            WHERE id IN (SELECT id FROM upload_sessions
                          WHERE ns_id = $1 AND state = 'open' AND ($3 OR lower(path) LIKE lower($2) || '/%')
                          FOR UPDATE SKIP LOCKED)""",
        src.ns_id,
        entries.like_prefix(cut)[:-2] if cut else "",
        whole,
    )
    await recount_counters(conn, src.ns_id)
    await recount_counters(conn, dst.ns_id)
    return len(rows)


async def _move_trash(conn: asyncpg.Connection, src_ns: int, dst_ns: int, base: str) -> None:
    base_key = paths.path_key(base) if base else ""
    await conn.execute(
        """UPDATE trash SET ns_id = $2, path = $3 || path, path_key = $4 || path_key,
                  parent_key = CASE WHEN parent_key = '/' AND $4 <> '' THEN $4 ELSE $4 || parent_key END
            WHERE ns_id = $1""",
        src_ns,
        dst_ns,
        base,
        base_key,
    )


async def copy_file(dst: Journal, row: asyncpg.Record, path: str) -> Metadata:
    """A new file at ``path`` of ``dst``'s namespace whose first version lists the blocks of the
    file entry ``row`` (another namespace's): no byte moves; the blocks none of ``dst``'s versions
    listed before now count in its ``stored_bytes`` too."""
    rev_row = await dst.conn.fetchrow(
        """WITH n AS (SELECT nextval(pg_get_serial_sequence('versions', 'id')) AS id),
           v AS (
               INSERT INTO versions (id, ns_id, path, size, content_hash, block_count, parent_rev, device_name, user_id,
                                     client_modified, file_id, number)
               SELECT n.id, $1, $2, s.size, s.content_hash, s.block_count, NULL, $3, $4, s.client_modified, n.id, 1
                 FROM n, versions s WHERE s.id = $5
               RETURNING id, created_at
           ), vb AS (
               INSERT INTO version_blocks (version_id, idx, block_id)
               SELECT v.id, b.idx, b.block_id FROM v, version_blocks b WHERE b.version_id = $5
           ), fresh AS (
               SELECT coalesce(sum(b.size), 0) AS bytes FROM blocks b
                WHERE b.id IN (SELECT block_id FROM version_blocks WHERE version_id = $5)
                  AND NOT EXISTS (SELECT 1 FROM version_blocks x JOIN versions xv ON xv.id = x.version_id
                                   WHERE x.block_id = b.id AND xv.ns_id = $1)
           )
           SELECT id, created_at, fresh.bytes FROM v, fresh""",
        dst.ns_id, path, dst.author.device_name, dst.author.user_id, row["rev"],
    )  # fmt: skip
    dst.usage.committed(row["size"], None, rev_row["bytes"])
    await ops.upsert_entry(dst, path, "file", rev_row["id"])
    return entries.file_metadata(
        path, rev_row["id"], row["size"], row["content_hash"], rev_row["created_at"], dst.author.device_name or "",
        row["client_modified"],
    )  # fmt: skip
