"""Binding a block store to its deployment, so no server deletes another deployment's blocks.

Each database has a deployment id (``deployment``, made by migration 012). The first block
server or garbage collection to use a store writes that id into it as a marker object
(``tessera-deployment``, beside the blocks, never listed as one); from then on
:func:`bind_store` refuses a store whose marker names another deployment, with a message that
names both ids. This is what keeps a server started with a missing or wrong ``DATABASE_URL``
(an empty database that knows no blocks) from taking every object in the store for an orphan
and deleting it.

A store with no marker yet is bound at first use, unless the database knows no blocks while
the store holds some: that is a store of a deployment from before binding (or of another
database altogether), and it is refused too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from metaserver.core import db
from protocol.errors import TesseraError, Unavailable

from .stores.base import BlockStore

log = logging.getLogger(__name__)

_PREFIX = "tessera deployment "


class StoreMismatch(TesseraError):
    """The block store belongs to another deployment than this database."""

    code = "store_mismatch"
    status = 500
    exit_code = 1


def marker_text(deployment: str) -> str:
    return f"{_PREFIX}{deployment}\n"


def _marker_id(text: str) -> str:
    text = text.strip()
    return text[len(_PREFIX):].strip() if text.startswith(_PREFIX) else text


async def deployment_id(pool: asyncpg.Pool) -> str:
    async with db.connection(pool) as conn:
        return await conn.fetchval("SELECT id FROM deployment")


async def bind_store(pool: asyncpg.Pool, store: BlockStore, *, write: bool = True) -> str:
    """Check that ``store`` is this database's (writing the marker at first use, unless not
    ``write``); the deployment id. StoreMismatch if the store is another deployment's."""
    async with db.connection(pool) as conn:
        deployment = await conn.fetchval("SELECT id FROM deployment")
        knows_blocks = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM blocks)")
    text = await store.read_marker()
    if text is not None:
        marker = _marker_id(text)
        if marker != deployment:
            raise StoreMismatch(
                f"the block store {store!r} belongs to deployment {marker}, but this database is deployment "
                f"{deployment}: is DATABASE_URL the right database? (refusing to use the store)"
            )
        return deployment
    if not knows_blocks and await _holds_blocks(store):
        raise StoreMismatch(
            f"the block store {store!r} holds blocks but has no deployment marker, and this database "
            f"(deployment {deployment}) knows no blocks: is DATABASE_URL the right database? (refusing to use the store)"
        )
    if write:
        await store.write_marker(marker_text(deployment))
        log.info("bound %r to deployment %s", store, deployment)
    return deployment


async def _holds_blocks(store: BlockStore) -> bool:
    async with contextlib.aclosing(store.list_ids()) as ids:
        async for _ in ids:
            return True
    return False


class StoreBinding:
    """A block server's binding of its store, made at start, or later if the store (or the
    database) cannot be reached then.

    A store that belongs to another deployment stops the start (:class:`StoreMismatch`). A store
    that cannot be reached does not: the server starts live but not ready (its readiness check
    names the reason), answers block requests 503 ``unavailable`` and runs no garbage
    collection, and tries the binding again every few seconds until it is made.
    """

    #: seconds between tries while the store cannot be reached (doubling up to the maximum)
    RETRY_FIRST = 1.0
    RETRY_MAX = 15.0

    def __init__(self, pool: asyncpg.Pool, store: BlockStore) -> None:
        self.pool = pool
        self.store = store
        self.deployment: str | None = None
        #: why the store is not bound (yet), for readiness and the 503s
        self.reason = "the block store is not bound to this deployment yet"
        self._bound = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._warned = False

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    def assume_bound(self) -> None:
        """A store its owner binds (or not) itself: passed to ``create_app`` ready for use."""
        self._bound.set()

    async def start(self) -> None:
        """Bind now; StoreMismatch stops the start, an unreachable store leaves it to retries."""
        if not await self._try():
            self._task = asyncio.create_task(self._retry(), name="store-binding")

    async def wait(self) -> None:
        """Return once the store is bound."""
        await self._bound.wait()

    def check(self) -> None:
        """Unavailable unless the store is bound (block requests, readiness)."""
        if not self.bound:
            raise Unavailable(self.reason)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _try(self) -> bool:
        try:
            self.deployment = await bind_store(self.pool, self.store)
        except Unavailable as e:  # the store (or the database) cannot be reached; anything else stops the start
            self.reason = f"the block store cannot be bound to this deployment yet: {e.message}"
            # one warning until it is bound (the retries are every few seconds)
            log.log(logging.DEBUG if self._warned else logging.WARNING, "%r: %s; retrying", self.store, self.reason)
            self._warned = True
            return False
        self._bound.set()
        log.info("block store: %r (deployment %s)", self.store, self.deployment)
        return True

    async def _retry(self) -> None:
        delay = self.RETRY_FIRST
        while True:
            await asyncio.sleep(delay)
            delay = min(self.RETRY_MAX, delay * 2)
            try:
                if await self._try():
                    return
            except StoreMismatch as e:  # the store answered at last, and it is another deployment's
                self.reason = e.message
                log.error("%s", e.message)
                return
