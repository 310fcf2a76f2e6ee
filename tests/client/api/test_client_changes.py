"""The change feed through the client library, against the real servers."""

from __future__ import annotations

import asyncio

import pytest

from client import NO_RETRY, ChangesPage, LongPoll, TesseraClient, Timeouts
from client.transfer.filehash import hash_file
from protocol.errors import BadRequest, CursorReset
from tests.client.conftest import FAST_RETRY, write_random


async def drain(
    client: TesseraClient, cursor: str = "", limit: int | None = None
) -> tuple[list[ChangesPage], str]:
    """Every page after ``cursor``, and the cursor to continue from."""
    pages = [page async for page in client.iter_changes(cursor, limit=limit)]
    assert pages and not pages[-1].has_more
    return pages, pages[-1].cursor


def kinds_and_paths(pages: list[ChangesPage]) -> list[tuple[str, str]]:
    return [(e.kind, e.path) for page in pages for e in page.entries]


async def test_listing_then_changes(client, tmp_path):
    await client.mkdir("/Docs/Old")
    src = write_random(tmp_path / "a.bin", 1000, seed=1)
    await client.upload_file(src, "/Docs/a.bin")
    await client.mkdir("/Music")

    pages, cursor = await drain(client, limit=2)
    assert len(pages) >= 2
    assert pages[0].reset and not any(p.reset for p in pages[1:])
    assert kinds_and_paths(pages) == [
        ("folder", "/Docs"),
        ("file", "/Docs/a.bin"),
        ("folder", "/Docs/Old"),
        ("folder", "/Music"),
    ]
    file_entry = [e for p in pages for e in p.entries][1]
    assert file_entry.is_file and file_entry.size == 1000
    assert file_entry.content_hash == hash_file(src).content_hash
    assert file_entry.rev is not None and file_entry.device == "test-device"

    # caught up: nothing more, and the cursor still works
    again, same = await drain(client, cursor)
    assert kinds_and_paths(again) == [] and not again[0].reset

    await client.mkdir("/New")
    put = await client.upload_file(src, "/New/b.bin")
    await client.move("/Docs/a.bin", "/Music/a.bin")
    await client.delete("/Docs")
    pages, cursor = await drain(client, same)
    changes = kinds_and_paths(pages)
    assert changes == [
        ("folder", "/New"),
        ("pending", "/New/b.bin"),
        ("file", "/New/b.bin"),
        ("deleted", "/Docs/a.bin"),
        ("file", "/Music/a.bin"),
        ("deleted", "/Docs/Old"),
        ("deleted", "/Docs"),
    ]
    entries = [e for p in pages for e in p.entries]
    assert entries[2].rev == put.metadata.rev and entries[2].content_hash == put.metadata.content_hash
    assert entries[1].rev is None and entries[1].name == "b.bin"

    # latest_cursor is where the feed ends, without a listing
    latest = await client.latest_cursor()
    page = await client.changes(latest)
    assert page.entries == [] and not page.has_more and not page.reset
    assert (await client.changes(cursor)).entries == []


async def test_pending_upload_shows_before_commit(client, tmp_path):
    cursor = await client.latest_cursor()
    src = write_random(tmp_path / "p.bin", 5000, seed=2)
    hashed = hash_file(src)
    await client.create_upload("/incoming/p.bin", hashed.size, hashed.blocks)
    page = await client.changes(cursor)
    assert [(e.kind, e.path, e.name) for e in page.entries] == [("pending", "/incoming/p.bin", "p.bin")]
    assert not page.has_more


async def test_longpoll_woken_by_a_commit(client, servers, token, tmp_path):
    # a read timeout far shorter than the wait: the long-poll must use its own
    async with TesseraClient(servers.meta_url, token, retry=NO_RETRY, timeouts=Timeouts(read=1.0)) as poller:
        cursor = await poller.latest_cursor()
        poll = asyncio.create_task(poller.longpoll(cursor, timeout=30))
        await asyncio.sleep(1.5)
        assert not poll.done()
        await client.upload_file(write_random(tmp_path / "w.bin", 10, seed=3), "/wake.bin")
        result = await asyncio.wait_for(poll, 20)
    assert result == LongPoll(changes=True, backoff=None)
    changes, backoff = result
    assert changes is True and backoff is None
    page = await client.changes(cursor)
    assert ("file", "/wake.bin") in [(e.kind, e.path) for e in page.entries]
    # behind the journal: answered at once
    assert (await client.longpoll(cursor)).changes


async def test_longpoll_times_out_without_changes(client, monkeypatch):
    from metaserver.changes import longpoll as polls

    monkeypatch.setattr(polls, "LONGPOLL_MIN", 1)  # a short poll, for the test only
    cursor = await client.latest_cursor()
    assert await client.longpoll(cursor, timeout=1) == (False, None)
    with pytest.raises(BadRequest):
        await client.longpoll("")


async def test_cursor_of_another_account_is_reset(client, servers):
    await servers.add_user("bob", "pw-bob-long")
    bob_token = await servers.login("bob", "pw-bob-long")
    async with TesseraClient(servers.meta_url, bob_token, retry=FAST_RETRY) as bob:
        await bob.mkdir("/bobs")
        bobs_cursor = await bob.latest_cursor()

    with pytest.raises(CursorReset) as info:
        await client.changes(bobs_cursor)
    assert info.value.code == "cursor_reset" and info.value.status == 410
    with pytest.raises(CursorReset):
        await client.longpoll(bobs_cursor)
    with pytest.raises(CursorReset):
        async for _ in client.iter_changes(bobs_cursor):
            pass
    with pytest.raises(BadRequest):
        await client.changes("not-a-cursor")
    # the way out: list again from scratch
    pages, _ = await drain(client)
    assert pages[0].reset and kinds_and_paths(pages) == []


async def test_longpoll_goes_to_the_notify_endpoint(client, servers):
    from yarl import URL

    url = URL(await client.longpoll_url())
    meta = URL(servers.meta_url)
    assert url.path == "/v1/changes/longpoll" and url.host == meta.host and url.port != meta.port


async def test_longpoll_falls_back_to_the_metadata_server_when_notify_is_unreachable(
    servers, token, server_config, monkeypatch
):
    from dataclasses import replace

    from metaserver.app import create_app
    from metaserver.changes import longpoll as polls
    from tests.conftest import start_site

    monkeypatch.setattr(polls, "LONGPOLL_MIN", 1)
    # a metadata server that names a notify endpoint nobody listens on
    config = replace(servers.config, notify_url="http://127.0.0.1:9")
    runner, url = await start_site(create_app(config))
    try:
        async with TesseraClient(url, token, retry=FAST_RETRY) as c:
            assert await c.longpoll_url() == "http://127.0.0.1:9/v1/changes/longpoll"
            assert await c.longpoll(await c.latest_cursor(), timeout=1) == (False, None)
    finally:
        await runner.cleanup()
