"""The per-namespace change journal.

A :class:`Journal` is opened inside a write transaction: it locks the
namespace row (so writers of one namespace are serialised and their sequence
numbers are gap-free and ordered), hands out sequence numbers, and writes the
journal rows and a NOTIFY in one go at the end of the transaction.
:meth:`Journal.append` does all of that in one statement, for a writer that
needs no sequence number before it writes.

Every row says who made it (:class:`Author`: the user and the device). The
journal also carries the namespace's usage changes of the transaction
(:class:`~metaserver.tree.usage.UsageDelta`), which :meth:`Journal.flush` adds to the
namespace's counters in the same statement that moves its sequence number: the
counters change exactly when, and only if, the change that moves them commits.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from protocol.errors import MountedMeanwhile, NotFound

from ..core.auth import Caller
from .usage import UsageDelta

NOTIFY_CHANNEL = "tessera_journal"

#: for a home namespace: the owner's mount point at or above a path this flush writes (not
#: deletes), if any. A writer resolves its path to a namespace before it waits for the lock; a
#: share created (or accepted) meanwhile puts a mount there, and what the writer adds would lie
#: hidden under it. Checked in the flush's own statement, after the lock: no round trip more.
_COVERED = """SELECT min(m.path) FROM mounts m JOIN namespaces n ON n.owner_id = m.user_id AND n.kind = 'home'
               WHERE n.id = $1 AND EXISTS (
                     SELECT 1 FROM unnest($7::text[], $11::bool[]) AS r(k, d)
                      WHERE NOT d AND NOT r.k = ANY($17::text[])
                        AND (r.k = m.path_key OR left(r.k, length(m.path_key) + 1) = m.path_key || '/'))"""


@dataclass(frozen=True, slots=True)
class Author:
    """Who makes a change: the user and the device (the journal and the trash keep both)."""

    user_id: int | None
    device_name: str | None

    @classmethod
    def of(cls, caller: Caller) -> Author:
        return cls(caller.user_id, caller.device_name)


#: the server's own changes (pruning, purges past retention): no user, no device
SERVER = Author(None, None)


@dataclass(slots=True)
class JournalRow:
    seq: int
    path_key: str
    path: str
    kind: str  # file | folder | pending
    rev: int | None
    deleted: bool


class Journal:
    def __init__(self, conn: asyncpg.Connection, ns_id: int, last_seq: int, author: Author) -> None:
        self.conn = conn
        self.ns_id = ns_id
        self.last_seq = last_seq
        self.author = author
        self.rows: list[JournalRow] = []
        #: what this transaction changes in the namespace's usage counters
        self.usage = UsageDelta()
        #: path keys where this transaction mounts a shared folder (sharing's rows at a mount point)
        self.mount_keys: list[str] = []

    @classmethod
    async def begin(cls, conn: asyncpg.Connection, ns_id: int, author: Author) -> Journal:
        # NO KEY UPDATE, not UPDATE: writers still queue on the row, but rows inserted earlier in
        # the same transaction whose foreign key names the namespace (upload_sessions) hold a
        # KEY SHARE lock on it, which FOR UPDATE would wait on: two such uploads deadlocked
        last = await conn.fetchval("SELECT last_seq FROM namespaces WHERE id = $1 FOR NO KEY UPDATE", ns_id)
        if last is None:
            raise NotFound("no such namespace")
        return cls(conn, ns_id, last, author)

    @staticmethod
    async def append(
        conn: asyncpg.Connection, ns_id: int, author: Author, rows: list[tuple[str, str, str, int | None, bool]]
    ) -> int:
        """Journal ``rows`` (path_key, path, kind, rev, deleted) at once: lock the namespace, take
        their sequence numbers, write them and the NOTIFY in one statement; returns the last.

        For writers that need no sequence number before they write (a pending upload): the
        namespace stays locked from this one round trip to the COMMIT, where :meth:`begin`
        and :meth:`flush` hold it over two and everything between. The UPDATE takes the same
        row lock as :meth:`begin` (NO KEY UPDATE: ``last_seq`` is no key) and counts from the
        latest committed ``last_seq`` once it has the lock.
        """
        last = await conn.fetchval(
            """WITH ns AS (
                   UPDATE namespaces SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq
               ), rows AS (
                   INSERT INTO journal (ns_id, seq, path_key, path, kind, rev, deleted, user_id, device_name)
                   SELECT $1, ns.last_seq - $2 + r.i, r.path_key, r.path, r.kind, r.rev, r.deleted, $9, $10
                     FROM ns, unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::bool[])
                              WITH ORDINALITY AS r(path_key, path, kind, rev, deleted, i)
               )
               SELECT pg_notify($8, $1::text || ':' || ns.last_seq::text), ns.last_seq FROM ns""",
            ns_id,
            len(rows),
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
            [r[4] for r in rows],
            NOTIFY_CHANNEL,
            author.user_id,
            author.device_name,
            column=1,
        )
        if last is None:
            raise NotFound("no such namespace")
        return last

    def add(self, path_key: str, path: str, kind: str, rev: int | None, deleted: bool) -> int:
        self.last_seq += 1
        self.rows.append(JournalRow(self.last_seq, path_key, path, kind, rev, deleted))
        return self.last_seq

    def mark(self) -> tuple[int, int, UsageDelta]:
        """A point to roll back to (with a savepoint) when one item of a batch fails."""
        return self.last_seq, len(self.rows), self.usage.copy()

    def rollback_to(self, mark: tuple[int, int, UsageDelta]) -> None:
        self.last_seq, n, usage = mark
        del self.rows[n:]
        self.usage = usage.copy()

    async def flush(self) -> None:
        """Write the rows, the namespace's last sequence number, its usage changes and the NOTIFY
        in one statement.

        One round trip, not three: every statement between :meth:`begin` and the
        COMMIT is time the namespace's other writers wait in line (with 16
        clients committing to one namespace, most of their time).
        """
        u = self.usage
        if not self.rows:
            if u:  # a change of usage alone (pruning, purging the trash): no row, nothing to notify
                await self.conn.execute(f"UPDATE namespaces SET {_COUNTERS} WHERE id = $1", self.ns_id, *u.as_tuple())
                self.usage = UsageDelta()
            return
        # data-modifying WITH parts run to completion whether or not the final SELECT reads them;
        # the NOTIFY is delivered at COMMIT, so a listener never sees a change it cannot read yet
        done = await self.conn.fetchrow(
            f"""WITH rows AS (
                   INSERT INTO journal (ns_id, seq, path_key, path, kind, rev, deleted, user_id, device_name)
                   SELECT $1, *, $13, $14 FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[], $10::bigint[],
                                                     $11::bool[])
               ), last AS (
                   UPDATE namespaces SET last_seq = $12, {_COUNTERS} WHERE id = $1
               )
               SELECT pg_notify($15, $16), ({_COVERED}) AS covered""",
            self.ns_id,
            *u.as_tuple(),
            [r.seq for r in self.rows],
            [r.path_key for r in self.rows],
            [r.path for r in self.rows],
            [r.kind for r in self.rows],
            [r.rev for r in self.rows],
            [r.deleted for r in self.rows],
            self.last_seq,
            self.author.user_id,
            self.author.device_name,
            NOTIFY_CHANNEL,
            f"{self.ns_id}:{self.last_seq}",
            self.mount_keys,
        )
        covered = done["covered"]
        if covered:  # the NOTIFY and every row go with the transaction's rollback
            raise MountedMeanwhile(
                f"a shared folder was mounted at {covered} while this change waited its turn; nothing was changed:"
                " try again (the path is now in the shared folder)"
            )
        self.rows.clear()
        self.usage = UsageDelta()


#: the usage counters' increments, parameters $2 to $5 of the statements of :meth:`Journal.flush`
_COUNTERS = """current_bytes = current_bytes + $2, version_bytes = version_bytes + $3,
               trash_bytes = trash_bytes + $4, stored_bytes = stored_bytes + $5"""
