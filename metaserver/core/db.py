"""The asyncpg pool and the translation of database failures into domain errors."""

from __future__ import annotations

import contextlib
import logging
import time
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


class DatabaseStatus:
    """Whether the database was reachable last time anyone tried; logs an outage once.

    The first failure logs one WARNING, the failures after it only count, and the first
    success after them logs one INFO line saying how long it lasted and how many requests it
    refused: an outage does not fill the log, however many requests meet it.
    """

    def __init__(self, name: str = "database") -> None:
        self.name = name
        self.down_since: float | None = None
        self.refused = 0
        #: called with no argument for every refusal (a metrics counter's ``inc``)
        self.on_refused = None

    def failed(self, err: BaseException, *, refused: bool = True) -> None:
        """``err`` met the database (``refused``: a request was refused for it)."""
        if refused and self.on_refused is not None:
            self.on_refused()
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.refused = 1
            log.warning("%s unavailable: %s (requests that need it answer 503 until it is back)", self.name, err)
        else:
            self.refused += 1

    def ok(self) -> None:
        if self.down_since is not None:
            log.info(
                "%s is back after %.1f s (%d requests refused meanwhile)",
                self.name, time.monotonic() - self.down_since, self.refused,
            )  # fmt: skip
            self.down_since = None


class Pool(asyncpg.pool.Pool):
    """asyncpg's pool, plus what the servers report about it: its outage status (one log line per
    outage) and how many requests wait for a connection (a metric)."""

    __slots__ = ("status", "waiting")


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, status: DatabaseStatus | None = None
) -> Pool:
    pool = Pool(
        dsn,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        min_size=min_size,
        max_size=max_size,
        max_queries=50000,
        max_inactive_connection_lifetime=300,
        setup=None,
        init=_init_connection,
        loop=None,
        command_timeout=60,
    )
    pool.status = status or DatabaseStatus()
    pool.waiting = 0
    await pool
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
    status = getattr(pool, "status", None)
    try:
        async with _acquire(pool) as conn:
            if status is not None:
                status.ok()
            try:
                yield conn
            except _BREAKS_CONNECTION:
                _discard(conn)
                raise
    except asyncpg.exceptions.DiskFullError as e:
        log.error("the database is out of space: %s", e)
        raise InsufficientStorage("the server's database is out of storage space; tell its operator") from None
    except _BREAKS_CONNECTION as e:
        if status is not None:
            status.failed(e)
        else:
            log.warning("database unavailable: %s", e)
        raise Unavailable("the database is unavailable; try again") from e


@contextlib.asynccontextmanager
async def _acquire(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """``pool.acquire()``, counting the requests that wait for a connection (:class:`Pool`)."""
    if not isinstance(pool, Pool):
        async with pool.acquire() as conn:
            yield conn
        return
    pool.waiting += 1
    counted = True
    try:
        async with pool.acquire() as conn:
            pool.waiting -= 1
            counted = False
            yield conn
    finally:
        if counted:
            pool.waiting -= 1


def _discard(conn: asyncpg.Connection) -> None:
    """Close a connection an outage may have left half-way through an operation: the pool
    then opens a new one on its next acquire instead of handing this one out again."""
    if not conn.is_closed():
        conn.terminate()
