"""Purging the trash: deleting trashed files for good, with every version of them.

A purge goes in bounded steps, each in a transaction of its own under the namespace lock
(:func:`purge_step`): at most ``limit`` file rows of the target leave the trash with their
files' versions; once no file row is left, its folder rows go. Blocks that lose their last
reference lower ``stored_bytes`` in the same transaction (what quotas count), and become
garbage that the collector deletes after its grace period (blockserver/gc/).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from protocol import paths

from . import versions
from .entries import like_prefix
from .journal import Journal
from .trash import ROOT_KEY

#: file rows one step purges (their versions too: a step deletes about this many times the
#: versions a file keeps)
STEP_FILES = 500


@dataclass(frozen=True, slots=True)
class Target:
    """What a purge takes: what is at ``path`` and below it in the trash (everything, for the
    root), of the item ``item`` only if given."""

    path: str = paths.ROOT
    item: int | None = None

    def where(self) -> tuple[str, list]:
        """The condition on ``trash t`` (parameters from $2 on) and its arguments."""
        conditions, args = [], []
        key = paths.path_key(self.path)
        if key != ROOT_KEY:
            args += [key, like_prefix(key)]
            conditions.append(f"(t.path_key = ${len(args)} OR t.path_key LIKE ${len(args) + 1})")
        if self.item is not None:
            args.append(self.item)
            conditions.append(f"(t.id = ${len(args) + 1} OR t.top_id = ${len(args) + 1})")
        return " AND ".join(conditions) or "true", args


@dataclass(frozen=True, slots=True)
class PurgeStep:
    files: int
    #: bytes of blocks that lost their last reference (``stored_bytes`` went down by this)
    freed_bytes: int
    #: nothing of the target is left in the trash
    done: bool


async def purge_step(j: Journal, target: Target, limit: int | None = None) -> PurgeStep:
    """One step of purging ``target`` (see the module docstring): at most ``limit`` files
    (default :data:`STEP_FILES`)."""
    conn = j.conn
    limit = STEP_FILES if limit is None else limit
    where, args = target.where()
    files = await conn.fetch(
        f"""SELECT t.id, t.top_id, v.file_id, v.size FROM trash t JOIN versions v ON v.id = t.rev
             WHERE t.ns_id = $1 AND t.kind = 'file' AND {where} ORDER BY t.id LIMIT {int(limit)}""",
        j.ns_id,
        *args,
    )
    if not files:
        await conn.execute(f"DELETE FROM trash t WHERE t.ns_id = $1 AND {where}", j.ns_id, *args)
        return PurgeStep(0, 0, True)
    await _leave_items(conn, files)
    doomed = await conn.fetchval(
        "SELECT array(SELECT id FROM versions WHERE ns_id = $1 AND file_id = ANY($2::bigint[]))",
        j.ns_id,
        [f["file_id"] for f in files],
    )
    _, size, freed = await versions.delete(conn, j.ns_id, doomed)
    last = sum(f["size"] for f in files)
    j.usage.purged(last, size - last, freed)
    return PurgeStep(len(files), freed, False)


async def _leave_items(conn: asyncpg.Connection, files: list[asyncpg.Record]) -> None:
    """The file rows leave the trash; the items they were in count what is left in them."""
    await conn.execute("DELETE FROM trash WHERE id = ANY($1::bigint[])", [f["id"] for f in files])
    inside = [f for f in files if f["top_id"] is not None]
    if inside:
        await conn.execute(
            """UPDATE trash t SET files = t.files - d.files, bytes = t.bytes - d.bytes
                 FROM (SELECT top_id, count(*) AS files, sum(size) AS bytes
                         FROM unnest($1::bigint[], $2::bigint[]) AS u(top_id, size) GROUP BY top_id) d
                WHERE t.id = d.top_id""",
            [f["top_id"] for f in inside],
            [f["size"] for f in inside],
        )


async def expired_items(conn: asyncpg.Connection, ns_id: int, before, limit: int) -> list[int]:
    """Items deleted at ``before`` or earlier (their retention has run out), oldest first."""
    return await conn.fetchval(
        """SELECT array(SELECT id FROM trash WHERE ns_id = $1 AND top_id IS NULL AND deleted_at <= $2
                         ORDER BY deleted_at, id LIMIT $3)""",
        ns_id,
        before,
        limit,
    )
