"""The notifier's knowledge of a namespace's last sequence number, and long-poll checks that use it."""

import asyncio

import pytest

from metaserver.changes import longpoll as polls
from metaserver.changes.cursor import Cursor
from metaserver.changes.notifier import EventWaiter, Notifier
from protocol.errors import CursorReset


@pytest.fixture
async def notifier(database_url):
    n = Notifier(database_url)
    await n.start()
    assert n.connected
    yield n
    await n.close()


@pytest.fixture
async def ns_id(pool):
    from metaserver.core.users import create_user, home_namespace

    async with pool.acquire() as conn:
        user_id = await create_user(conn, "bob", "pw-bob-long")
        return await home_namespace(conn, user_id)


async def _set_last_seq(pool, ns_id: int, seq: int) -> None:
    """A commit as far as the database is concerned, its NOTIFY not (yet) delivered."""
    await pool.execute("UPDATE namespaces SET last_seq = $2 WHERE id = $1", ns_id, seq)


async def _drop_listener(pool, notifier: Notifier) -> None:
    """Kill the listener's backend, as a database restart would, and wait (bounded) for the loss to be seen."""
    await pool.execute("SELECT pg_terminate_backend($1)", notifier._conn.get_server_pid())
    await asyncio.wait_for(notifier._lost.wait(), 30)


async def test_known_while_the_namespace_has_waiters_raised_by_notifies(notifier):
    gen = notifier.generation
    notifier.learn(7, 5, gen)
    assert notifier.known_last_seq(7) is None  # nobody waits on namespace 7: nothing kept
    waiter = EventWaiter()
    notifier.register(7, waiter)
    notifier.learn(7, 5, gen)
    assert notifier.known_last_seq(7) == 5
    notifier._on_notify(None, 0, "tessera_journal", "7:6")
    notifier.learn(7, 4, gen)  # an older read does not lower it
    assert notifier.known_last_seq(7) == 6
    notifier.unregister(7, waiter)
    assert notifier.known_last_seq(7) is None


async def test_forgotten_when_the_listener_drops(notifier, pool):
    waiter = EventWaiter()
    notifier.register(7, waiter)
    before = notifier.generation
    notifier.learn(7, 5, before)
    await _drop_listener(pool, notifier)
    assert notifier.known_last_seq(7) is None
    notifier.learn(7, 5, before)  # read before the drop: NOTIFYs may have been missed since
    assert notifier.known_last_seq(7) is None
    await asyncio.wait_for(notifier._connected.wait(), 30)
    notifier.learn(7, 8, notifier.generation)
    assert notifier.known_last_seq(7) == 8


async def test_has_changes_asks_the_database_once_then_the_notifier(notifier, pool, ns_id):
    notifier.register(ns_id, EventWaiter())  # as a poll does before its check
    await _set_last_seq(pool, ns_id, 10)
    assert await polls.has_changes(pool, notifier, ns_id, Cursor(ns_id, 10)) is False
    assert notifier.known_last_seq(ns_id) == 10
    assert await polls.has_changes(pool, notifier, ns_id, Cursor(ns_id, 9)) is True
    # a commit the database has but whose NOTIFY is in flight: a cursor at the known number is
    # held without a round trip (the NOTIFY wakes it), one past it is asked of the database,
    # not reset
    await _set_last_seq(pool, ns_id, 11)
    assert await polls.has_changes(pool, notifier, ns_id, Cursor(ns_id, 10)) is False
    assert await polls.has_changes(pool, notifier, ns_id, Cursor(ns_id, 11)) is False
    assert notifier.known_last_seq(ns_id) == 11
    with pytest.raises(CursorReset):
        await polls.has_changes(pool, notifier, ns_id, Cursor(ns_id, 12))
    with pytest.raises(CursorReset):
        await polls.has_changes(pool, notifier, ns_id, Cursor(ns_id + 1, 3))
    assert await polls.has_changes(pool, notifier, ns_id, Cursor(ns_id, 5, "a/b")) is True  # mid-listing
