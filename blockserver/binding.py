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

import contextlib
import logging

import asyncpg

from metaserver.core import db
from protocol.errors import TesseraError

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
