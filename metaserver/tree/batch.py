"""Batches of up to 1,000 items in one request: the size check of every batch route, and
:func:`run`, which applies one change per item to a namespace in one transaction.

Each item runs in a savepoint, so one bad item answers its own error without
failing the others; the journal rows and the NOTIFY go out once for the batch
(as Dropbox's ``upload_session/finish_batch``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from protocol.errors import BadRequest, TesseraError

from .journal import Journal

MAX_BATCH = 1000

T = TypeVar("T")


def check_items(body: Any, field: str) -> list:
    if not isinstance(body, dict) or not isinstance(body.get(field), list):
        raise BadRequest(f"the body must be an object with a list {field!r}")
    items = body[field]
    if not 1 <= len(items) <= MAX_BATCH:
        raise BadRequest(f"a batch holds 1 to {MAX_BATCH} items")
    return items


async def run(
    conn: asyncpg.Connection,
    ns_id: int,
    items: list,
    one: Callable[[Any, Journal], Awaitable[T]],
) -> list[T | TesseraError]:
    """Apply ``one(item, journal)`` to each item in its own savepoint; collect results or errors."""
    j = await Journal.begin(conn, ns_id)
    results: list[T | TesseraError] = []
    for item in items:
        mark = j.mark()
        try:
            async with conn.transaction():  # a savepoint inside the batch's transaction
                results.append(await one(item, j))
        except TesseraError as e:
            j.rollback_to(mark)
            results.append(e)
    await j.flush()
    return results
