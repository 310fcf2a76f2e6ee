"""A namespace's usage: four counters on its row, kept exact by every change that moves them.

Every version of a namespace is in exactly one of three roles, and each role has a
counter of the versions' (logical) sizes:

- ``current_bytes``: the version a live file entry points to;
- ``trash_bytes``: the last version of a file in the trash (what restoring it brings back);
- ``version_bytes``: every other version (older versions, of live and of deleted files).

``stored_bytes`` is what the namespace's versions take: the sizes of the distinct blocks that
at least one of its versions lists (dedup is free; blocks only an upload session lists do not
count). A block two namespaces list (a move between namespaces links the blocks: sharing,
metaserver/sharing/crossmove.py) counts in both, as each would hold a copy. Quotas count it
(:func:`metaserver.core.users.used_bytes`).

A change records what it does to the counters in its :class:`~metaserver.tree.journal.Journal`
(a :class:`UsageDelta`, through the lifecycle events below), and the journal adds it to the
namespace's row in the statement that ends the change, under the namespace lock every writer
holds: no two changes of one namespace interleave, so each one's delta is computed on the
state the one before left. Each event costs O(1), or O(blocks of the file) for the
``stored_bytes`` part, never a sum over the namespace. :func:`recount` computes the four
figures from scratch, to check them (the tests do, after random sequences of changes).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import asyncpg

from protocol.messages.lifecycle import NamespaceUsage, Usage, UsageReport


@dataclass(slots=True)
class UsageDelta:
    """What one transaction changes in a namespace's counters, by lifecycle event."""

    current: int = 0
    versions: int = 0
    trash: int = 0
    stored: int = 0

    def __bool__(self) -> bool:
        return any(self.as_tuple())

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.current, self.versions, self.trash, self.stored

    def copy(self) -> UsageDelta:
        return replace(self)

    def committed(self, size: int, replaced: int | None, fresh: int) -> None:
        """A new version of ``size`` bytes became a file's current one (a commit, a restore of an
        old version), replacing one of ``replaced`` bytes (None: a new file); ``fresh``: the bytes
        of its blocks no version referenced before."""
        self.current += size - (replaced or 0)
        self.versions += replaced or 0
        self.stored += fresh

    def trashed(self, size: int) -> None:
        """A live file whose current version has ``size`` bytes went to the trash."""
        self.current -= size
        self.trash += size

    def untrashed(self, size: int) -> None:
        """A file came back from the trash (its last version of ``size`` bytes is current again)."""
        self.trash -= size
        self.current += size

    def purged(self, last: int, older: int, freed: int) -> None:
        """A file left the trash for good: its last version (``last`` bytes), its older ones
        (``older`` bytes), and ``freed`` bytes of blocks nothing references any more."""
        self.trash -= last
        self.versions -= older
        self.stored -= freed

    def pruned(self, size: int, freed: int) -> None:
        """Older versions of ``size`` bytes in all were pruned, freeing ``freed`` bytes of blocks."""
        self.versions -= size
        self.stored -= freed


_COUNTERS = "current_bytes, version_bytes, trash_bytes, stored_bytes"


async def of_namespace(conn: asyncpg.Connection, ns_id: int) -> Usage:
    row = await conn.fetchrow(f"SELECT {_COUNTERS} FROM namespaces WHERE id = $1", ns_id)
    return Usage(*row) if row is not None else Usage(0, 0, 0, 0)


async def owned(conn: asyncpg.Connection, user_id: int) -> list[NamespaceUsage]:
    """The counters of every namespace the user owns (today: their home)."""
    rows = await conn.fetch(f"SELECT id, kind, {_COUNTERS} FROM namespaces WHERE owner_id = $1 ORDER BY id", user_id)
    return [NamespaceUsage(*r.values()) for r in rows]


async def report(conn: asyncpg.Connection, user_id: int, default_days: int) -> UsageReport:
    """A user's usage (``GET /v1/usage``): the namespaces they own, their quota and retention."""
    namespaces = await owned(conn, user_id)
    user = await conn.fetchrow("SELECT quota_bytes, retention_days FROM users WHERE id = $1", user_id)
    total = functools.reduce(lambda a, b: a + b, (n.usage for n in namespaces), Usage(0, 0, 0, 0))
    return UsageReport(
        user["quota_bytes"],
        total.stored_bytes,
        user["retention_days"] or default_days,
        total.current_bytes,
        total.version_bytes,
        total.trash_bytes,
        total.stored_bytes,
        namespaces,
    )


async def recount(conn: asyncpg.Connection, ns_id: int) -> Usage:
    """The counters of namespace ``ns_id`` computed from its rows (a full scan: checks and repairs)."""
    row = await conn.fetchrow(
        """SELECT
             (SELECT coalesce(sum(v.size), 0)::bigint FROM entries e JOIN versions v ON v.id = e.rev
               WHERE e.ns_id = $1 AND e.kind = 'file' AND NOT e.deleted) AS current_bytes,
             (SELECT coalesce(sum(v.size), 0)::bigint FROM versions v
               WHERE v.ns_id = $1
                 AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.rev = v.id AND NOT e.deleted)
                 AND NOT EXISTS (SELECT 1 FROM trash t WHERE t.rev = v.id)) AS version_bytes,
             (SELECT coalesce(sum(v.size), 0)::bigint FROM trash t JOIN versions v ON v.id = t.rev
               WHERE t.ns_id = $1) AS trash_bytes,
             (SELECT coalesce(sum(b.size), 0) FROM blocks b
               WHERE b.id IN (SELECT vb.block_id FROM version_blocks vb JOIN versions v ON v.id = vb.version_id
                               WHERE v.ns_id = $1)) AS stored_bytes""",
        ns_id,
    )
    return Usage(*row)
