"""One cursor and one long-poll cover a device's whole tree: its home and every mounted share.
A mount appearing or going is a change; a commit in a share wakes every member's polls, also
those held by another metadata server instance and by the notify endpoint."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest

from metaserver.app import create_app
from tests.conftest import start_site
from tests.metaserver.conftest import Api
from tests.metaserver.sharing.conftest import join
from tests.metaserver.uploads.test_sessions import upload


async def all_changes(api: Api, cursor: str = "") -> tuple[list[tuple[str, str]], str]:
    out = []
    while True:
        page = await api.ok("GET", "/v1/changes", cursor=cursor, limit=3)
        out += [(e["kind"], e["path"]) for e in page["entries"]]
        cursor = page["cursor"]
        if not page["has_more"]:
            return out, cursor


async def test_the_feed_covers_the_home_and_every_mount(people, pool):
    alice, bob = people["alice"], people["bob"]
    await upload(alice, pool, "/Team/a.txt", b"a")
    await upload(alice, pool, "/Team/sub/b.txt", b"b")
    await upload(bob, pool, "/mine.txt", b"m")
    _, cursor = await all_changes(bob)
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    poll = asyncio.create_task(bob.ok("GET", "/v1/changes/longpoll", cursor=cursor, timeout=60))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await join(alice, bob, "/Team", "bob", "editor")
    async with asyncio.timeout(5):
        assert await poll == {"changes": True}  # the mount appearing wakes the poll
    changes, cursor = await all_changes(bob, cursor)
    assert changes == [("folder", "/Team"), ("folder", "/Team"), ("file", "/Team/a.txt"), ("folder", "/Team/sub"),
                       ("file", "/Team/sub/b.txt")]  # fmt: skip
    # a full listing: the home, then the share under its mount path
    listing, _ = await all_changes(bob)
    assert listing == [("file", "/mine.txt"), ("folder", "/Team"), ("file", "/Team/a.txt"), ("folder", "/Team/sub"),
                       ("file", "/Team/sub/b.txt")]  # fmt: skip

    # a commit in the share wakes the member's poll; the feed says it at the member's path
    poll = asyncio.create_task(bob.ok("GET", "/v1/changes/longpoll", cursor=cursor, timeout=60))
    await asyncio.sleep(0.2)
    await upload(alice, pool, "/Team/new.txt", b"new")
    async with asyncio.timeout(5):
        assert await poll == {"changes": True}
    changes, cursor = await all_changes(bob, cursor)
    assert changes == [("pending", "/Team/new.txt"), ("file", "/Team/new.txt")]

    # removed: the mount goes from the feed, and the share's commits no longer wake the poll
    await alice.ok("POST", "/v1/shares/remove", {"path": "/Team", "user": "bob"})
    changes, cursor = await all_changes(bob, cursor)
    assert changes == [("deleted", "/Team")]
    poll = asyncio.create_task(bob.call("GET", "/v1/changes/longpoll", cursor=cursor, timeout=30))
    await asyncio.sleep(0.2)
    await upload(alice, pool, "/Team/later.txt", b"later")
    await asyncio.sleep(0.5)
    assert not poll.done()
    poll.cancel()


async def test_a_commit_in_a_share_wakes_members_on_another_instance_and_the_notify_endpoint(
    people, pool, server_config
):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    await alice.ok("POST", "/v1/files/mkdir", {"path": "/Team"})
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    await join(alice, bob, "/Team", "bob", "viewer")
    await join(alice, carol, "/Team", "carol", "editor", at="/Projects/Team")
    other_runner, other_url = await start_site(create_app(replace(server_config, block_urls=("http://127.0.0.1:9",))))
    try:
        bob_there = replace(bob, url=other_url)
        notify = (await carol.ok("GET", "/v1/changes/notify"))["url"]
        bob_cursor = (await bob.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
        carol_cursor = (await carol.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
        polls = [
            asyncio.create_task(bob_there.ok("GET", "/v1/changes/longpoll", cursor=bob_cursor, timeout=60)),
            asyncio.create_task(_notify_poll(carol, notify, carol_cursor)),
        ]
        await asyncio.sleep(0.5)
        assert not any(p.done() for p in polls)
        await alice.ok("POST", "/v1/files/mkdir", {"path": "/Team/fresh"})
        async with asyncio.timeout(5):
            assert await asyncio.gather(*polls) == [{"changes": True}] * 2
        changes, _ = await all_changes(carol, carol_cursor)
        assert changes == [("folder", "/Projects/Team/fresh")]
    finally:
        await other_runner.cleanup()


async def _notify_poll(api: Api, url: str, cursor: str) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.get(url, params={"cursor": cursor, "timeout": "60"},
                         headers={"Authorization": f"Bearer {api.token}"}) as r:  # fmt: skip
            assert r.status == 200
            return await r.json()


@pytest.mark.parametrize("cursor", ["c2.", "c2.kQ", "c1.xyz"])
async def test_a_malformed_cursor_is_a_bad_request(people, cursor):
    assert await people["bob"].error("GET", "/v1/changes", cursor=cursor) == (400, "bad_request")


async def test_a_cursor_of_another_account_is_reset(people):
    alice_cursor = (await people["alice"].ok("GET", "/v1/changes/latest_cursor"))["cursor"]
    assert await people["bob"].error("GET", "/v1/changes", cursor=alice_cursor) == (410, "cursor_reset")


async def test_the_feed_says_each_mount_point_with_the_role_and_again_when_it_changes(people, pool):
    alice, bob = people["alice"], people["bob"]
    await upload(alice, pool, "/Team/a.txt", b"a")
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    await join(alice, bob, "/Team", "bob", "editor")
    page = await bob.ok("GET", "/v1/changes")
    point = {"kind": "folder", "path": "/Team", "name": "Team", "shared": True, "role": "editor"}
    assert [e for e in page["entries"] if e["path"] == "/Team"] == [{**point, "ns_id": page["entries"][0]["ns_id"]}]
    ns_id = page["entries"][0]["ns_id"]
    mine = await alice.ok("GET", "/v1/changes")  # the owner's mount point says owner
    assert {**point, "role": "owner", "ns_id": ns_id} in mine["entries"]
    # a role change wakes the member's poll, and the feed says the mount point again with the new role
    poll = asyncio.create_task(bob.ok("GET", "/v1/changes/longpoll", cursor=page["cursor"], timeout=60))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await alice.ok("POST", "/v1/shares/role", {"path": "/Team", "user": "bob", "role": "viewer"})
    async with asyncio.timeout(5):
        assert await poll == {"changes": True}
    later = await bob.ok("GET", "/v1/changes", cursor=page["cursor"])
    assert later["entries"] == [{**point, "role": "viewer", "ns_id": ns_id}]
    listing = await bob.ok("GET", "/v1/changes")  # and a full listing says the role too
    assert {**point, "role": "viewer", "ns_id": ns_id} in listing["entries"]
