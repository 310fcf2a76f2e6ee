"""A user's device tokens: listing, revoking, and telling every metadata server at once.

Revoking writes ``revoked_at`` and, in the same transaction, a NOTIFY on
:data:`TOKENS_CHANNEL` with the user's id. Every metadata server process listens
(:class:`~metaserver.changes.notifier.Notifier`): it forgets the user's tokens in the
notify endpoint's cache and ends the user's held long-polls whose token no longer works,
so a revocation takes effect at once on the notify port too. Every other route, and the
block server, looks the token up on each request.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

#: the NOTIFY channel of revocations; the payload is the user id
TOKENS_CHANNEL = "tessera_tokens"


async def notify_changed(conn: asyncpg.Connection, user_id: int) -> None:
    """Tell every metadata server that ``user_id``'s tokens changed (delivered at COMMIT)."""
    await conn.execute("SELECT pg_notify($1, $2)", TOKENS_CHANNEL, str(user_id))


async def revoke(
    conn: asyncpg.Connection,
    user_id: int,
    reason: str,
    *,
    token_ids: Sequence[int] | None = None,
    keep: int | None = None,
) -> list[int]:
    """Revoke ``user_id``'s live tokens (only ``token_ids`` if given; all but ``keep`` if given).

    Returns the ids revoked; notifies the metadata servers if there were any.
    """
    rows = await conn.fetch(
        """UPDATE tokens SET revoked_at = now(), revoked_reason = $2
            WHERE user_id = $1 AND revoked_at IS NULL
              AND ($3::bigint[] IS NULL OR id = ANY($3::bigint[]))
              AND ($4::bigint IS NULL OR id <> $4)
        RETURNING id""",
        user_id,
        reason,
        None if token_ids is None else list(token_ids),
        keep,
    )
    if rows:
        await notify_changed(conn, user_id)
    return [r["id"] for r in rows]


async def live_tokens(conn: asyncpg.Connection, user_id: int, idle_expiry: float) -> list[asyncpg.Record]:
    """The user's tokens that still work: id, device_name, created_at, last_used_at (oldest first)."""
    return await conn.fetch(
        """SELECT id, device_name, created_at, last_used_at FROM tokens
            WHERE user_id = $1 AND revoked_at IS NULL
              AND ($2 = 0 OR last_used_at > now() - make_interval(secs => $2))
            ORDER BY created_at, id""",
        user_id,
        idle_expiry,
    )
