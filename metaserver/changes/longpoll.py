"""What a long-poll is, whichever server answers it: its parameters, its answers, its checks.

Two endpoints hold long-polls in the metadata server process: the aiohttp
route ``GET /v1/changes/longpoll`` (:mod:`metaserver.web.changes`) and the
dedicated notify endpoint (:mod:`metaserver.changes.notify_server`). Both take the
same query, answer the same bodies and errors, and wait on the same
:class:`~metaserver.changes.notifier.Notifier`.
"""

from __future__ import annotations

import random

import asyncpg

from protocol import codec
from protocol.messages.changes import LongPoll

from ..core import db
from ..core.http import parse_int
from . import feed
from .cursor import Cursor
from .notifier import Notifier

LONGPOLL_MIN, LONGPOLL_MAX, LONGPOLL_DEFAULT = 30, 480, 30
#: above this many held polls, new ones are told to back off instead of waiting
MAX_HELD_POLLS = 100_000
OVERLOAD_BACKOFF = 60
SHUTDOWN_BACKOFF = 1

CHANGED = LongPoll(changes=True)
UNCHANGED = LongPoll(changes=False)
OVERLOADED = LongPoll(changes=False, backoff=OVERLOAD_BACKOFF)
SHUTTING_DOWN = LongPoll(changes=False, backoff=SHUTDOWN_BACKOFF)

#: the answers every poll shares, encoded once per content type
_ENCODED = {
    (id(answer), ctype): codec.encode(answer.to_wire(), ctype)
    for answer in (CHANGED, UNCHANGED, OVERLOADED, SHUTTING_DOWN)
    for ctype in codec.CONTENT_TYPES
}


def encoded(answer: LongPoll, ctype: str) -> bytes:
    """The body of one of the shared answers above in ``ctype``."""
    return _ENCODED[id(answer), ctype]


def parse_timeout(raw: str | None) -> int:
    """The ``timeout`` query parameter (seconds); BadRequest if out of range."""
    return parse_int(raw, "timeout", LONGPOLL_DEFAULT, LONGPOLL_MIN, LONGPOLL_MAX)


def parse_cursor(raw: str | None) -> Cursor | None:
    """The ``cursor`` query parameter; None if empty (the poll answers ``changes: true`` at once)."""
    return Cursor.decode(raw) if raw else None


def jittered(timeout: int) -> float:
    """How long to hold a poll: up to 10% less than asked, to spread the reconnects of many clients."""
    return timeout - random.uniform(0, timeout * 0.1)


async def has_changes(pool: asyncpg.Pool, notifier: Notifier, ns_id: int, cursor: Cursor) -> bool:
    """Whether the journal moved past ``cursor``; CursorReset if the cursor is not this tree's.

    The caller has registered a waiter for ``ns_id``. The notifier's knowledge
    of the namespace's last sequence number answers without a database round
    trip unless the cursor is ahead of it (a commit whose NOTIFY is still in
    flight: the database decides whether the cursor is valid).
    """
    last = notifier.known_last_seq(ns_id)
    if last is None or cursor.seq > last:
        generation = notifier.generation
        async with db.connection(pool) as conn:
            last = await conn.fetchval("SELECT last_seq FROM namespaces WHERE id = $1", ns_id)
        notifier.learn(ns_id, last, generation)
    feed.check(cursor, ns_id, last)
    return cursor.listing_after is not None or last > cursor.seq
