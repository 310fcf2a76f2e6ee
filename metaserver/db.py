"""The asyncpg pool and the translation of database failures into domain errors."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from protocol.errors import Unavailable

log = logging.getLogger(__name__)

#: errors that mean "the database is not reachable right now", not "your request is wrong"
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # bytea <-> bytes and uuid <-> str (32 hex digits) keep the data layer simple
    await conn.set_type_codec(
        "uuid", encoder=lambda s: s, decoder=lambda s: s.replace("-", ""), schema="pg_catalog", format="text"
    )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=60,
        max_inactive_connection_lifetime=300,
    )
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool, *, isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
    """A pool connection inside one short transaction; database outages become ``Unavailable``."""
    try:
        async with pool.acquire() as conn, conn.transaction(isolation=isolation):
            yield conn
    except TRANSIENT_DB_ERRORS as e:
        log.warning("database unavailable: %s", e)
        raise Unavailable("the database is unavailable; try again") from e


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pool connection without a transaction (single statements)."""
    try:
        async with pool.acquire() as conn:
            yield conn
    except TRANSIENT_DB_ERRORS as e:
        log.warning("database unavailable: %s", e)
        raise Unavailable("the database is unavailable; try again") from e
