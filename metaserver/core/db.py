"""The asyncpg pool and the translation of database failures into domain errors."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from protocol.errors import InsufficientStorage, Unavailable

log = logging.getLogger(__name__)

#: errors that mean "the database is not reachable right now", not "your request is wrong";
#: all of them become 503 ``unavailable``. A pooled connection the outage broke is closed,
#: and the pool replaces it with a new one on its next acquire.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, no socket file, timeouts (TimeoutError is an OSError)
    ConnectionError,
    # class 08: connection exceptions (does not exist, failure, rejected, cannot connect, ...)
    asyncpg.exceptions.PostgresConnectionError,
    # class 57: operator intervention (admin shutdown, crash shutdown, cannot connect now
    # while starting up, shutting down or recovering, query canceled, database dropped)
    asyncpg.exceptions.OperatorInterventionError,
    # class 53: insufficient resources (too many connections, disk full, out of memory)
    asyncpg.exceptions.InsufficientResourcesError,
    # the client side: "connection is closed", "pool is closing", connection lost mid-query
    asyncpg.exceptions.InterfaceError,
)


#: the array types our statements bind; asyncpg looks each one up in the catalog (its type
#: introspection query, 15-50 ms) the first time a connection meets it, which made the first
#: commit on every pool connection that much slower (the journal insert binds bigint[] and bool[])
ARRAY_TYPES = ("bigint", "int", "bool", "bytea", "text", "uuid")
_WARM_TYPES = "SELECT " + ", ".join(f"${i}::{t}[]" for i, t in enumerate(ARRAY_TYPES, 1))


async def _init_connection(conn: asyncpg.Connection) -> None:
    # bytea <-> bytes and uuid <-> str (32 hex digits) keep the data layer simple
    await conn.set_type_codec(
        "uuid", encoder=lambda s: s, decoder=lambda s: s.replace("-", ""), schema="pg_catalog", format="text"
    )
    # every array codec at once (one introspection query), when the connection opens rather
    # than inside the first request's transaction that needs one
    await conn.fetchrow(_WARM_TYPES, *(None for _ in ARRAY_TYPES))


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


#: what makes a pooled connection unfit for reuse: an outage error, or asyncpg's
#: InternalClientError ("cannot switch to state 12; another operation (2) is in progress"),
#: which is what the next query on an idle pooled connection raises when that connection got
#: the server's FATAL shutdown notice but has not seen the socket close yet
_BREAKS_CONNECTION = (*TRANSIENT_DB_ERRORS, asyncpg.exceptions.InternalClientError)


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool, *, isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
    """A pool connection inside one short transaction; database outages become ``Unavailable``."""
    async with connection(pool) as conn, conn.transaction(isolation=isolation):
        yield conn


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pool connection (without a transaction: single statements); database outages become
    ``Unavailable``, and a connection an outage broke is not handed out again."""
    try:
        async with pool.acquire() as conn:
            try:
                yield conn
            except _BREAKS_CONNECTION:
                _discard(conn)
                raise
    except asyncpg.exceptions.DiskFullError as e:
        log.error("the database is out of space: %s", e)
        raise InsufficientStorage("the server's database is out of storage space; tell its operator") from None
    except _BREAKS_CONNECTION as e:
        log.warning("database unavailable: %s", e)
        raise Unavailable("the database is unavailable; try again") from e


def _discard(conn: asyncpg.Connection) -> None:
    """Close a connection an outage may have left half-way through an operation: the pool
    then opens a new one on its next acquire instead of handing this one out again."""
    if not conn.is_closed():
        conn.terminate()
