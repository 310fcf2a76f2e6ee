"""Users: creation (with a home namespace), quotas, and lookups."""

from __future__ import annotations

import asyncpg

from protocol.errors import AlreadyExists, BadRequest, NotFound

from .auth import hash_password

MAX_NAME = 64


def check_user_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(c.isspace() or ord(c) < 32 for c in name):
        raise BadRequest(f"user names are 1-{MAX_NAME} characters with no spaces")
    return name


async def create_user(conn: asyncpg.Connection, name: str, password: str, quota_bytes: int | None = None) -> int:
    """Create a user and its home namespace; return the user id."""
    name = check_user_name(name)
    if len(password) < 1:
        raise BadRequest("the password must not be empty")
    pw = await hash_password(password)
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


async def set_quota(conn: asyncpg.Connection, name: str, quota_bytes: int | None) -> None:
    done = await conn.execute("UPDATE users SET quota_bytes = $2 WHERE name_key = $1", name.casefold(), quota_bytes)
    if done.endswith(" 0"):
        raise NotFound(f"no user {name!r}")


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
