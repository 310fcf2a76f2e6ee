"""Users: creation (with a home namespace), passwords, quotas, disabling, deletion, lookups."""

from __future__ import annotations

import asyncpg

from protocol.errors import AlreadyExists, BadRequest, NotFound

from . import tokens
from .passwords import check_new_password, hash_password

MAX_NAME = 64


def check_user_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(c.isspace() or ord(c) < 32 for c in name):
        raise BadRequest(f"user names are 1-{MAX_NAME} characters with no spaces")
    return name


async def create_user(conn: asyncpg.Connection, name: str, password: str, quota_bytes: int | None = None) -> int:
    """Create a user and its home namespace; return the user id."""
    name = check_user_name(name)
    pw = await hash_password(check_new_password(password))
    async with conn.transaction():
        try:
            user_id = await conn.fetchval(
                "INSERT INTO users (name, name_key, password_hash, quota_bytes) VALUES ($1, $2, $3, $4) RETURNING id",
                name,
                name.casefold(),
                pw,
                quota_bytes,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"user {name!r} already exists") from None
        await conn.execute("INSERT INTO namespaces (owner_id, kind) VALUES ($1, 'home')", user_id)
    return user_id


async def user_id_of(conn: asyncpg.Connection, name: str) -> int:
    """The id of user ``name`` (case-insensitive); NotFound if there is none."""
    user_id = await conn.fetchval("SELECT id FROM users WHERE name_key = $1", name.strip().casefold())
    if user_id is None:
        raise NotFound(f"no user {name!r}")
    return user_id


async def set_quota(conn: asyncpg.Connection, name: str, quota_bytes: int | None) -> None:
    done = await conn.execute("UPDATE users SET quota_bytes = $2 WHERE name_key = $1", name.casefold(), quota_bytes)
    if done.endswith(" 0"):
        raise NotFound(f"no user {name!r}")


async def set_password(conn: asyncpg.Connection, name: str, password: str, *, sign_out: bool) -> int:
    """Give user ``name`` a new password; with ``sign_out``, revoke all their tokens. Returns
    how many tokens were revoked."""
    pw = await hash_password(check_new_password(password))
    async with conn.transaction():
        user_id = await user_id_of(conn, name)
        await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, pw)
        return len(await tokens.revoke(conn, user_id, "operator")) if sign_out else 0


async def set_disabled(conn: asyncpg.Connection, name: str, disabled: bool) -> bool:
    """Disable (or enable) user ``name``; False if it already was. A disabled user's tokens stop
    working at once (every server checks it with the token) and they cannot log in."""
    async with conn.transaction():
        user_id = await user_id_of(conn, name)
        done = await conn.execute(
            "UPDATE users SET disabled_at = CASE WHEN $2 THEN now() END"
            " WHERE id = $1 AND (disabled_at IS NOT NULL) <> $2",
            user_id,
            disabled,
        )
        changed = not done.endswith(" 0")
        if changed and disabled:
            await tokens.notify_changed(conn, user_id)
    return changed


async def revoke_tokens(conn: asyncpg.Connection, name: str) -> int:
    """Sign every device of user ``name`` out; returns how many."""
    async with conn.transaction():
        return len(await tokens.revoke(conn, await user_id_of(conn, name), "operator"))


async def delete_user(conn: asyncpg.Connection, name: str) -> dict[str, int]:
    """Delete user ``name`` with everything they own: namespaces, entries, versions, journal,
    upload sessions, tokens, and the rows of their blocks. The blocks' objects become orphans,
    which garbage collection deletes once they are older than its grace period. Returns counts."""
    async with conn.transaction():
        user_id = await user_id_of(conn, name)
        # blocks of theirs that another user's files list (copied or moved out of their shared
        # folders: no byte was sent again) pass to the first such namespace (and its owner), which
        # counted them already; they would otherwise go with the user and break those files
        await conn.execute(
            """UPDATE blocks b SET ns_id = t.ns_id, owner_id = t.owner_id
                 FROM (SELECT DISTINCT ON (vb.block_id) vb.block_id, v.ns_id, n.owner_id
                         FROM blocks mine
                         JOIN version_blocks vb ON vb.block_id = mine.id
                         JOIN versions v ON v.id = vb.version_id
                         JOIN namespaces n ON n.id = v.ns_id AND n.owner_id <> $1
                        WHERE mine.owner_id = $1
                        ORDER BY vb.block_id, v.ns_id) t
                WHERE b.id = t.block_id""",
            user_id,
        )
        counts = dict(
            await conn.fetchrow(
                """SELECT (SELECT count(*) FROM versions v JOIN namespaces n ON n.id = v.ns_id
                            WHERE n.owner_id = $1) AS versions,
                          (SELECT count(*) FROM blocks WHERE owner_id = $1) AS blocks,
                          (SELECT count(*) FROM tokens WHERE user_id = $1 AND revoked_at IS NULL) AS devices""",
                user_id,
            )
        )
        await tokens.notify_changed(conn, user_id)
        # the links they made into others' shared folders stop with them (their own go with their namespaces)
        await conn.execute("UPDATE links SET revoked_at = now() WHERE created_by = $1 AND revoked_at IS NULL", user_id)
        # children first: version_blocks and session_blocks name blocks without a cascade
        owned = "(SELECT id FROM namespaces WHERE owner_id = $1)"
        await conn.execute("DELETE FROM upload_sessions WHERE user_id = $1 OR ns_id IN " + owned, user_id)
        await conn.execute("DELETE FROM entries WHERE ns_id IN " + owned, user_id)
        await conn.execute("DELETE FROM journal WHERE ns_id IN " + owned, user_id)
        await conn.execute("DELETE FROM trash WHERE ns_id IN " + owned, user_id)  # it names versions
        await conn.execute("DELETE FROM versions WHERE ns_id IN " + owned, user_id)
        await conn.execute("DELETE FROM users WHERE id = $1", user_id)  # namespaces, blocks, tokens
    return counts


async def list_users(conn: asyncpg.Connection, idle_expiry: float) -> list[dict]:
    """Every user: name, created, quota_bytes, used_bytes (what the quota counts), current_bytes,
    version_bytes, trash_bytes (the namespaces they own), retention_days (None: the server's),
    devices (tokens that work), disabled."""
    rows = await conn.fetch(
        """SELECT u.name, u.created_at, u.quota_bytes, u.disabled_at IS NOT NULL AS disabled, u.retention_days,
                  n.used_bytes, n.current_bytes, n.version_bytes, n.trash_bytes,
                  (SELECT count(*) FROM tokens t
                    WHERE t.user_id = u.id AND t.revoked_at IS NULL
                      AND ($1 = 0 OR t.last_used_at > now() - make_interval(secs => $1))) AS devices
             FROM users u,
                  LATERAL (SELECT coalesce(sum(stored_bytes), 0)::bigint AS used_bytes,
                                  coalesce(sum(current_bytes), 0)::bigint AS current_bytes,
                                  coalesce(sum(version_bytes), 0)::bigint AS version_bytes,
                                  coalesce(sum(trash_bytes), 0)::bigint AS trash_bytes
                             FROM namespaces WHERE owner_id = u.id) n
            ORDER BY u.name_key""",
        idle_expiry,
    )
    return [dict(r) for r in rows]


async def home_namespace(conn: asyncpg.Connection, user_id: int) -> int:
    ns = await conn.fetchval("SELECT id FROM namespaces WHERE owner_id = $1 AND kind = 'home'", user_id)
    if ns is None:
        raise NotFound("the user has no home namespace")
    return ns


async def used_bytes(conn: asyncpg.Connection, user_id: int) -> int:
    """What the user's quota counts: the stored bytes of the namespaces they own (the distinct
    blocks some version of theirs references: dedup is free; metaserver/tree/usage.py keeps
    the figure in the same transaction as every change that moves it)."""
    return await conn.fetchval(
        "SELECT coalesce(sum(stored_bytes), 0)::bigint FROM namespaces WHERE owner_id = $1", user_id
    )


async def set_retention(conn: asyncpg.Connection, name: str, days: int | None) -> None:
    """Keep the user's old versions and deleted files ``days`` days (None: the server's setting)."""
    done = await conn.execute("UPDATE users SET retention_days = $2 WHERE name_key = $1", name.casefold(), days)
    if done.endswith(" 0"):
        raise NotFound(f"no user {name!r}")
