"""What open upload sessions hold of a user's quota and limits, reserved when they open.

A session reserves the number of the new blocks it lists (those not stored yet: the
pending-block limit) and the bytes of the blocks it lists that no version references yet (what
its commit will add to the namespace's ``stored_bytes``, metaserver/tree/usage.py) from the
moment it opens (and each further part of its list, as it is listed) until it is committed,
aborted or expires; the reservation is its ``reserved_bytes`` and ``reserved_blocks`` columns,
kept summed on the user's row (``reserving_sessions``, ``reserved_blocks``, ``reserved_bytes``)
by a trigger on every change of the sessions (migrations/010_reservation_counters.sql), so a
check reads one row, never a sum over the user's sessions. A session holds its reservation until
a check of its user releases it (:func:`lock`: every session of the user committed, aborted or
expired since; each is released once, so that is O(1) per upload too). Each check locks the
user's row (``FOR NO KEY UPDATE``), so two uploads opened at once are checked one after the
other and can never both fit in the same space:

- quota: the stored bytes of the namespaces the user owns + reserved bytes + the new bytes must
  fit in ``quota_bytes`` (:class:`~protocol.errors.QuotaExceeded`, 507);
- open sessions: at most ``max_open_uploads`` (:class:`~protocol.errors.TooManyUploads`, 429);
- pending blocks: at most ``max_pending_blocks`` reserved blocks
  (:class:`~protocol.errors.TooManyPendingBlocks`, 429).

The blocks a session has sent count only as reserved until its commit moves them into the
namespace's ``stored_bytes`` (in the commit's transaction), and the next check releases the
reservation. An abort releases it at once.

In a shared folder the quota is its owner's (a share's bytes count against its owner): the
quota check counts the owner's stored bytes, their own reservations (their counters) and what
the other members' open sessions in the namespaces they own reserve (a sum over those sessions
only); the two limits stay the uploader's. Both users' rows are locked, in id order. An owner's
own upload into another's share counts in their counters too: a check errs on the side of
refusing, never of letting a user over quota.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from protocol.errors import QuotaExceeded, TesseraError, TooManyPendingBlocks, TooManyUploads

from ..core.settings import ServerSettings
from ..core.users import used_bytes


@dataclass(frozen=True, slots=True)
class Need:
    """What one session (or one more part of its list) asks to reserve."""

    sessions: int
    blocks: int
    bytes: int


@dataclass(slots=True)
class Reserved:
    """A user's limits and what their open sessions hold, read under the lock on the user's row."""

    quota: int | None
    used: int
    sessions: int
    blocks: int
    bytes: int
    max_sessions: int
    max_blocks: int

    def refusal(self, need: Need) -> TesseraError | None:
        """Why ``need`` does not fit (None: it does)."""
        if need.sessions and self.sessions + need.sessions > self.max_sessions:
            return TooManyUploads(
                f"{self.sessions} upload sessions are open, at most {self.max_sessions} may be: commit or abort "
                "some, or wait for them to expire",
                open_uploads=self.sessions, max_open_uploads=self.max_sessions,
            )  # fmt: skip
        if need.blocks and self.blocks + need.blocks > self.max_blocks:
            return TooManyPendingBlocks(
                f"open uploads list {self.blocks} blocks not committed yet; {need.blocks} more would pass the "
                f"limit of {self.max_blocks}: send and commit those first",
                pending_blocks=self.blocks, max_pending_blocks=self.max_blocks,
            )  # fmt: skip
        if need.bytes and self.quota is not None and self.used + self.bytes + need.bytes > self.quota:
            taken = self.used + self.bytes
            return QuotaExceeded(
                f"this upload needs {need.bytes} more bytes; {max(0, self.quota - taken)} of {self.quota} are left"
                + (f" ({self.bytes} reserved by uploads in progress)" if self.bytes else ""),
                quota_bytes=self.quota, used_bytes=self.used, reserved_bytes=self.bytes,
            )  # fmt: skip
        return None

    def take(self, need: Need) -> None:
        self.sessions += need.sessions
        self.blocks += need.blocks
        self.bytes += need.bytes


async def lock(
    conn: asyncpg.Connection, settings: ServerSettings, user_id: int, owner_id: int | None = None
) -> Reserved:
    """Release what the user's sessions that are over still hold, then lock the user's row and the
    quota owner's (``owner_id``, default the uploader; until the transaction ends) and read what
    their open sessions reserve: the counters (O(1), whatever the number of the user's sessions)."""
    owner_id = user_id if owner_id is None else owner_id
    # a row another transaction holds (a session being aborted, a tombstone being removed) releases
    # itself, or is released by the next check: skipped, so a check never waits on a session
    await conn.execute(
        """UPDATE upload_sessions SET reservation_held = false
            WHERE id IN (SELECT id FROM (SELECT id FROM upload_sessions
                                          WHERE user_id = $1 AND reservation_held AND state <> 'open'
                                          FOR UPDATE SKIP LOCKED) AS done
                         UNION ALL
                         SELECT id FROM (SELECT id FROM upload_sessions
                                          WHERE user_id = $1 AND reservation_held AND state = 'open'
                                            AND expires_at <= now()
                                          FOR UPDATE SKIP LOCKED) AS over)""",
        user_id,
    )
    # FOR NO KEY UPDATE: two checks of one user wait for each other, but the foreign key checks of
    # rows that reference the user (a commit inserting a version) do not wait for this lock
    rows = await conn.fetch(
        """SELECT id, quota_bytes, reserving_sessions, reserved_blocks, reserved_bytes
             FROM users WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE""",
        [user_id, owner_id],
    )
    row, owner = (next(r for r in rows if r["id"] == i) for i in (user_id, owner_id))
    quota = owner["quota_bytes"]
    used = await used_bytes(conn, owner_id) if quota is not None else 0
    reserved = owner["reserved_bytes"] + (await _members_reserved(conn, owner_id) if quota is not None else 0)
    return Reserved(
        quota, used, row["reserving_sessions"], row["reserved_blocks"], reserved,
        settings.max_open_uploads, settings.max_pending_blocks,
    )  # fmt: skip


async def _members_reserved(conn: asyncpg.Connection, owner_id: int) -> int:
    """What the open sessions of other users reserve in the namespaces ``owner_id`` owns (their shares)."""
    return await conn.fetchval(
        """SELECT coalesce(sum(s.reserved_bytes), 0)::bigint FROM upload_sessions s JOIN namespaces n ON n.id = s.ns_id
            WHERE n.owner_id = $1 AND s.user_id <> $1 AND n.kind <> 'home'
              AND s.reservation_held AND s.state = 'open' AND s.expires_at > now()""",
        owner_id,
    )


async def quota_owner(conn: asyncpg.Connection, ns_id: int) -> int:
    """Whose quota the namespace's bytes count against (a share's: its owner's)."""
    return await conn.fetchval("SELECT owner_id FROM namespaces WHERE id = $1", ns_id)


async def reserve(
    conn: asyncpg.Connection, settings: ServerSettings, user_id: int, need: Need, *, ns_id: int | None = None
) -> None:
    """Check that ``need`` fits (raising the refusal if not); the caller then records it on its session.
    ``ns_id``: the namespace uploaded to, whose owner's quota counts the bytes (default: the uploader's)."""
    if not (need.sessions or need.blocks or need.bytes):
        return
    reserved = await lock(conn, settings, user_id, await quota_owner(conn, ns_id) if ns_id is not None else None)
    refusal = reserved.refusal(need)
    if refusal is not None:
        raise refusal


async def add_to_session(conn: asyncpg.Connection, session_id: str, need: Need) -> None:
    """Record ``need`` (a further part of a session's list) on the session's reservation."""
    await conn.execute(
        """UPDATE upload_sessions SET reserved_blocks = reserved_blocks + $2, reserved_bytes = reserved_bytes + $3
            WHERE id = $1""",
        session_id,
        need.blocks,
        need.bytes,
    )
