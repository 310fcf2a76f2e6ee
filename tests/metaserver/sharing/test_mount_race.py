"""A write that waited for the namespace's lock while its folder became a shared folder (or a
share was mounted over its path) must not land in the owner's home under the new mount, where
no one could see it (metaserver/tree/journal.py, ``_COVERED``): it is refused, nothing changed,
and done again it lands in the share.

The race is made exact: the test holds alice's home namespace lock, lets `share create` queue on
it first and the write second (PostgreSQL grants a row lock's waiters in turn), then lets go."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import eventually
from tests.metaserver.conftest import blocks_of, mark_stored
from tests.metaserver.uploads.test_sessions import upload


async def waiting(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")


async def _at_least(pool, n: int) -> bool:
    return await waiting(pool) >= n


async def queued_behind(pool, home: int, *requests) -> list:
    """Run ``requests`` (coroutine factories) one after another into the queue for ``home``'s lock; their answers."""
    async with pool.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM namespaces WHERE id = $1 FOR NO KEY UPDATE", home)
        tasks = []
        for n, request in enumerate(requests, start=1):
            tasks.append(asyncio.create_task(request()))
            await eventually(lambda n=n: _at_least(pool, n), f"{n} requests waiting for the lock")
        await tx.rollback()
    return await asyncio.gather(*tasks)


async def hidden(pool, name: str) -> list[str]:
    """Entries of the user's home at or below one of their mount points."""
    rows = await pool.fetch(
        """SELECT e.path FROM entries e JOIN namespaces n ON n.id = e.ns_id AND n.kind = 'home'
             JOIN users u ON u.id = n.owner_id AND u.name = $1
             JOIN mounts m ON m.user_id = u.id
            WHERE e.path_key = m.path_key OR e.path_key LIKE m.path_key || '/%'""",
        name,
    )
    return [r["path"] for r in rows]


@pytest.mark.parametrize("write", ["commit", "mkdir", "move"])
async def test_a_write_queued_behind_share_create_is_refused_not_hidden(people, pool, write):
    alice = people["alice"]
    await upload(alice, pool, "/Team/plan.txt", b"the plan")
    await upload(alice, pool, "/loose.txt", b"loose")
    home = await pool.fetchval("SELECT n.id FROM namespaces n JOIN users u ON u.id = n.owner_id WHERE u.name = 'alice'")
    data = b"written while it was being shared"
    up = await alice.ok("POST", "/v1/uploads", {"path": "/Team/new.txt", "size": len(data), "blocks": blocks_of(data)})
    await mark_stored(pool, [b["block_id"] for b in up["blocks"]])
    writes = {
        "commit": lambda: alice.call("POST", f"/v1/uploads/{up['upload_id']}/commit", {}),
        "mkdir": lambda: alice.call("POST", "/v1/files/mkdir", {"path": "/Team/sub"}),
        "move": lambda: alice.call("POST", "/v1/files/move", {"from": "/loose.txt", "to": "/Team/loose.txt"}),
    }

    shared, written = await queued_behind(
        pool, home, lambda: alice.call("POST", "/v1/shares", {"path": "/Team"}), writes[write]
    )
    assert shared[0] == 200, shared
    status, answer = written
    assert (status, answer["error"]["code"]) == (409, "mounted_meanwhile"), written
    assert "try again" in answer["error"]["message"]
    assert await hidden(pool, "alice") == []
    listing = await alice.ok("GET", "/v1/files/list", path="/")
    assert sorted(e["path"] for e in listing["entries"]) == ["/Team", "/loose.txt"]  # nothing moved, nothing lost

    # done again, it lands in the share, where everyone sees it
    if write == "commit":
        await upload(alice, pool, "/Team/new.txt", data)
    else:
        await writes[write]()
    inside = await alice.ok("GET", "/v1/files/list", path="/Team")
    assert {"commit": "/Team/new.txt", "mkdir": "/Team/sub", "move": "/Team/loose.txt"}[write] in [e["path"] for e in inside["entries"]]
    assert await hidden(pool, "alice") == []


async def test_a_write_queued_behind_an_accept_is_refused_not_hidden(people, pool):
    """bob's own /Inbox/x.txt, while he accepts a share at /Inbox: the mount wins, his write is refused."""
    alice, bob = people["alice"], people["bob"]
    await alice.ok("POST", "/v1/files/mkdir", {"path": "/Team"})
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    inv = await alice.ok("POST", "/v1/shares/invite", {"path": "/Team", "user": "bob", "role": "editor"})
    home = await pool.fetchval("SELECT n.id FROM namespaces n JOIN users u ON u.id = n.owner_id WHERE u.name = 'bob'")
    accepted, written = await queued_behind(
        pool, home,
        lambda: bob.call("POST", "/v1/shares/accept", {"id": inv["id"], "at": "/Inbox"}),
        lambda: bob.call("POST", "/v1/files/mkdir", {"path": "/Inbox/mine"}),
    )  # fmt: skip
    assert accepted[0] == 200 and accepted[1]["path"] == "/Inbox", accepted
    assert (written[0], written[1]["error"]["code"]) == (409, "mounted_meanwhile"), written
    assert await hidden(pool, "bob") == []
