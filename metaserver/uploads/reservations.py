"""What open upload sessions hold of a user's quota and limits, reserved when they open.

A session reserves the bytes and the number of the new blocks it lists (those not already
stored) from the moment it opens (and each further part of its list, as it is listed) until
it is committed, aborted or expires; the reservation is its ``reserved_bytes`` and
``reserved_blocks`` columns, summed over the user's open, unexpired sessions. Each check
locks the user's row first (``FOR NO KEY UPDATE``), so two uploads opened at once are checked one
after the other and can never both fit in the same space:

- quota: stored bytes + reserved bytes + the new bytes must fit in ``quota_bytes``
  (:class:`~protocol.errors.QuotaExceeded`, 507);
- open sessions: at most ``max_open_uploads`` (:class:`~protocol.errors.TooManyUploads`, 429);
- pending blocks: at most ``max_pending_blocks`` reserved blocks
  (:class:`~protocol.errors.TooManyPendingBlocks`, 429).

The blocks a session has sent count as stored *and* as reserved until its commit releases
the reservation: a check errs on the side of refusing, never of letting a user over quota.
The open-session limit bounds the rows summed.
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


async def lock(conn: asyncpg.Connection, settings: ServerSettings, user_id: int) -> Reserved:
    """Lock the user's row (until the transaction ends) and read what their open sessions reserve."""
    # FOR NO KEY UPDATE: two checks of one user wait for each other, but the foreign key checks of
    # rows that reference the user (a commit inserting a version) do not wait for this lock
    quota = await conn.fetchval("SELECT quota_bytes FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)
    row = await conn.fetchrow(
        """SELECT count(*) AS sessions, coalesce(sum(reserved_blocks), 0) AS blocks,
                  coalesce(sum(reserved_bytes), 0) AS bytes
             FROM upload_sessions WHERE user_id = $1 AND state = 'open' AND expires_at > now()""",
        user_id,
    )
    used = await used_bytes(conn, user_id) if quota is not None else 0
    return Reserved(
        quota, used, row["sessions"], int(row["blocks"]), int(row["bytes"]),
        settings.max_open_uploads, settings.max_pending_blocks,
    )  # fmt: skip


async def reserve(conn: asyncpg.Connection, settings: ServerSettings, user_id: int, need: Need) -> None:
    """Check that ``need`` fits (raising the refusal if not); the caller then records it on its session."""
    if not (need.sessions or need.blocks or need.bytes):
        return
    reserved = await lock(conn, settings, user_id)
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
