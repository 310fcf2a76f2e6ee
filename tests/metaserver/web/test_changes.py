"""The change feed and long-poll, including wake-ups across two server instances."""

import asyncio

from tests.conftest import start_site
from tests.metaserver.uploads.test_sessions import upload


async def all_changes(api, cursor: str = "", limit: int = 500) -> tuple[list[dict], str]:
    out = []
    while True:
        page = await api.ok("GET", "/v1/changes", cursor=cursor, limit=limit)
        out += page["entries"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return out, cursor


async def test_empty_cursor_lists_tree_parents_first_then_journal(api, pool):
    await upload(api, pool, "/a/b/c.txt", b"c")
    await api.ok("POST", "/v1/files/mkdir", {"path": "/a b"})
    await api.ok("POST", "/v1/files/mkdir", {"path": "/z"})
    listing, cursor = await all_changes(api, limit=2)
    assert [e["path"] for e in listing] == ["/a", "/a b", "/a/b", "/a/b/c.txt", "/z"]
    assert listing[3]["kind"] == "file" and listing[3]["size"] == 1
    again, cursor2 = await all_changes(api, cursor)
    assert again == []
    await api.ok("POST", "/v1/files/move", {"from": "/z", "to": "/y"})
    await api.ok("POST", "/v1/files/delete", {"path": "/a"})
    changes, _ = await all_changes(api, cursor2)
    assert [(e["kind"], e["path"]) for e in changes] == [
        ("deleted", "/z"), ("folder", "/y"),
        ("deleted", "/a/b/c.txt"), ("deleted", "/a/b"), ("deleted", "/a"),
    ]


async def test_changes_made_while_listing_are_not_lost(api, pool):
    for i in range(5):
        await api.ok("POST", "/v1/files/mkdir", {"path": f"/d{i}"})
    page = await api.ok("GET", "/v1/changes", limit=2)
    assert page["has_more"]
    await api.ok("POST", "/v1/files/delete", {"path": "/d4"})  # not listed yet
    await upload(api, pool, "/d0/new.txt", b"n")  # after the listing position
    rest, _ = await all_changes(api, page["cursor"], limit=2)
    seen = page["entries"] + rest
    kinds = [(e["kind"], e["path"]) for e in seen]
    assert ("deleted", "/d4") in kinds and ("file", "/d0/new.txt") in kinds
    assert ("folder", "/d4") not in kinds


async def test_pending_upload_is_visible_in_feed(api):
    from tests.metaserver.conftest import blocks_of

    cursor = (await api.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
    await api.ok("POST", "/v1/uploads", {"path": "/incoming.bin", "size": 3, "blocks": blocks_of(b"abc")})
    changes, _ = await all_changes(api, cursor)
    assert changes == [{"kind": "pending", "path": "/incoming.bin", "name": "incoming.bin"}]


async def test_bad_and_foreign_cursors(api, meta, pool):
    status, code = await api.error("GET", "/v1/changes", cursor="garbage")
    assert (status, code) == (400, "bad_request")
    from metaserver.changes.cursor import Cursor

    status, code = await api.error("GET", "/v1/changes", cursor=Cursor(10**6, 0).encode())
    assert (status, code) == (410, "cursor_reset")
    status, code = await api.error("GET", "/v1/changes/longpoll", cursor=Cursor(1, 10**9).encode())
    assert (status, code) == (410, "cursor_reset")
    status, code = await api.error("GET", "/v1/changes/longpoll", cursor="", timeout=5)
    assert (status, code) == (400, "bad_request")


async def test_longpoll_answers_at_once_when_behind_and_times_out_otherwise(api, pool, monkeypatch):
    from metaserver.changes import longpoll as polls

    cursor = (await api.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
    await api.ok("POST", "/v1/files/mkdir", {"path": "/x"})
    assert await api.ok("GET", "/v1/changes/longpoll", cursor=cursor) == {"changes": True}
    monkeypatch.setattr(polls, "LONGPOLL_MIN", 1)  # a short poll for the test only
    latest = (await api.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
    assert await api.ok("GET", "/v1/changes/longpoll", cursor=latest, timeout=1) == {"changes": False}


async def test_commit_wakes_waiting_longpoll(api, pool):
    cursor = (await api.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
    poll = asyncio.create_task(api.ok("GET", "/v1/changes/longpoll", cursor=cursor, timeout=60))
    await asyncio.sleep(0.3)
    assert not poll.done()
    await upload(api, pool, "/wake.txt", b"wake up")
    assert await asyncio.wait_for(poll, 20) == {"changes": True}


async def test_commit_on_one_instance_wakes_poll_on_another(api, server_config):
    """Two metadata servers on one database: LISTEN/NOTIFY crosses instances."""
    from dataclasses import replace

    from metaserver.app import create_app

    runner_b, url_b = await start_site(create_app(replace(server_config, block_urls=("http://127.0.0.1:9",))))
    try:
        other = type(api)(api.session, url_b, api.token)
        cursor = (await other.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
        poll = asyncio.create_task(other.ok("GET", "/v1/changes/longpoll", cursor=cursor, timeout=60))
        await asyncio.sleep(0.3)
        assert not poll.done()
        await api.ok("POST", "/v1/files/mkdir", {"path": "/via-instance-a"})
        assert await asyncio.wait_for(poll, 20) == {"changes": True}
    finally:
        await runner_b.cleanup()


async def test_other_users_changes_do_not_wake(api, meta, pool, monkeypatch):
    from metaserver.changes import longpoll as polls
    from metaserver.core.users import create_user

    async with pool.acquire() as conn:
        await create_user(conn, "bob", "pw-bob-long")
    bob = await meta.ok("POST", "/v1/auth/login", {"user": "bob", "password": "pw-bob-long"})
    cursor = (await api.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
    monkeypatch.setattr(polls, "LONGPOLL_MIN", 1)
    poll = asyncio.create_task(api.ok("GET", "/v1/changes/longpoll", cursor=cursor, timeout=2))
    await asyncio.sleep(0.3)
    status, _ = await meta.call("POST", "/v1/files/mkdir", {"path": "/bobs"}, token=bob["token"])
    assert status == 200
    assert await asyncio.wait_for(poll, 20) == {"changes": False}
