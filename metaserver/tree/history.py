"""A file's history, and bringing an old revision back.

Every commit is an immutable version, and the journal has a row for each time
a path got a file revision (a commit, a restore, a move onto the path) or lost
it (a deletion, which keeps the last rev). :func:`revisions` lists the
distinct revisions a path has held, newest first, from those rows;
:func:`restore` makes one of them the path's current content again, as a new
revision whose parent is the current one: the old revision's blocks are
referenced, not copied (they are kept as long as any version refers to them,
see blockserver/gc/), so a restore of any size is one small transaction.
A deleted file is restored the same way, with its folders recreated.
"""

from __future__ import annotations

import asyncpg

from protocol import paths
from protocol.errors import IsAFolder, NotFound
from protocol.messages.files import Metadata, Revisions

from . import entries, ops
from .journal import Journal

#: the most revisions one answer lists
MAX_LIMIT = 1000


async def revisions(conn: asyncpg.Connection, ns_id: int, path: str, limit: int) -> Revisions:
    """The revisions ``path`` has had, newest first (at most ``limit``); NotFound if none."""
    key = paths.path_key(paths.normalize(path))
    rows = await conn.fetch(
        """SELECT v.id, v.size, v.content_hash, v.created_at, v.device_name, v.client_modified, max(j.seq) AS last_seq
             FROM journal j JOIN versions v ON v.id = j.rev
            WHERE j.ns_id = $1 AND j.path_key = $2 AND j.kind = 'file' AND NOT j.deleted
            GROUP BY v.id ORDER BY last_seq DESC LIMIT $3""",
        ns_id,
        key,
        limit,
    )
    current = await entries.get(conn, ns_id, key)
    if current is not None and not current["deleted"] and current["kind"] != "file":
        raise IsAFolder(f"{current['path']} is a folder")
    if not rows:
        raise NotFound(f"{path} has no file revisions")
    live = current is not None and not current["deleted"]
    live_rev = current["rev"] if live else None
    display = current["path"] if current is not None else paths.normalize(path)
    return Revisions(
        display,
        not live,
        live_rev,
        [
            entries.file_metadata(
                display, r["id"], r["size"], r["content_hash"], r["created_at"], r["device_name"], r["client_modified"]
            )
            for r in rows
        ],
    )


async def restore(j: Journal, path: str, rev: int, device_name: str, user_id: int) -> Metadata:
    """Make revision ``rev`` of ``path`` its current content again (a new revision); its metadata.

    ``rev`` must be one the path has held (NotFound otherwise); a folder at the
    path is IsAFolder. When the path holds that content already (the revision
    is current, or was just restored), nothing changes and the current
    metadata is the answer, so a retried restore makes no second revision.
    """
    conn = j.conn
    path = paths.normalize(path)
    if path == paths.ROOT:
        raise IsAFolder("the root is a folder")
    key = paths.path_key(path)
    held = await conn.fetchval(
        """SELECT 1 FROM journal WHERE ns_id = $1 AND path_key = $2 AND kind = 'file' AND rev = $3 AND NOT deleted
            LIMIT 1""",
        j.ns_id,
        key,
        rev,
    )
    version = await conn.fetchrow(
        "SELECT id, size, content_hash, block_count, client_modified FROM versions WHERE id = $1 AND ns_id = $2",
        rev,
        j.ns_id,
    )
    if held is None or version is None:
        raise NotFound(f"{path} never had revision {rev}")
    current = await entries.get(conn, j.ns_id, key)
    if current is not None and not current["deleted"]:
        if current["kind"] != "file":
            raise IsAFolder(f"{current['path']} is a folder")
        if current["rev"] == rev or bytes(current["content_hash"]) == bytes(version["content_hash"]):
            return entries.metadata(current)  # already that content: nothing to do (a retry is safe)
    parent = await ops.ensure_parents(j, path)
    live_rev = current["rev"] if current is not None and not current["deleted"] else None
    new_rev, created = await ops.insert_version(
        j, path, version["size"], version["content_hash"], version["block_count"], live_rev, device_name, user_id,
        version["client_modified"],
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO version_blocks (version_id, idx, block_id) SELECT $1, idx, block_id FROM version_blocks WHERE version_id = $2",
        new_rev,
        rev,
    )
    display = current["path"] if current is not None and not current["deleted"] else paths.join(
        parent, paths.basename(path)
    )
    await ops.upsert_entry(j, display, "file", new_rev)
    return entries.file_metadata(
        display, new_rev, version["size"], version["content_hash"], created, device_name, version["client_modified"]
    )
