"""Pulling the change feed into the remote tree; uploads in progress elsewhere."""

from __future__ import annotations

import asyncio

from client.sync.remote.feed import OWN_UPLOAD_TTL, PENDING_TTL, PendingUploads, pull
from client.sync.state.database import META_CURSOR, SyncState
from protocol.hashing import hash_block
from protocol.messages.files import Metadata
from tests.client.conftest import PASSWORD


async def _offload(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


def _pending(path: str) -> Metadata:
    return Metadata("pending", path, path.rsplit("/", 1)[-1])


def test_pending_uploads_come_and_go():
    now = [1000.0]
    p = PendingUploads(clock=lambda: now[0])
    p.observe([_pending("/a/x"), _pending("/a/y"), _pending("/b")])
    assert p.paths() == ["/a/x", "/a/y", "/b"]
    p.observe([Metadata("file", "/A/X", "X", rev=1, size=1, content_hash="h")])  # committed (any case)
    p.observe([Metadata("deleted", "/a", "a")])  # everything below goes
    assert p.paths() == ["/b"]
    p.started_here("/mine")
    p.observe([_pending("/mine")])
    assert p.paths() == ["/b"]  # our own upload is not news
    now[0] += OWN_UPLOAD_TTL + 1
    p.observe([_pending("/mine")])
    assert p.paths() == ["/b", "/mine"]
    now[0] += PENDING_TTL + 1
    assert p.paths() == []


async def test_pull_lists_then_follows_the_journal_and_relists_after_a_reset(client, servers, tmp_path):
    state = SyncState(tmp_path / "state")
    pending = PendingUploads()
    try:
        await client.mkdir("/docs")
        first = await pull(client, state, pending, _offload)
        assert first.relisted and first.changed == 1
        assert set(state.nodes("remote")) == {"/docs"}

        src = tmp_path / "f.txt"
        src.write_bytes(b"content")
        await client.upload_file(src, "/docs/f.txt")
        await client.create_upload("/docs/big.bin", 5, [hash_block(b"12345")])
        second = await pull(client, state, pending, _offload)
        assert not second.relisted and second.changed == 1
        assert state.node("remote", "/docs/f.txt").content_hash is not None
        assert pending.paths() == ["/docs/big.bin"]

        # a cursor of another account is refused: the tree is listed again from scratch
        await servers.add_user("bob", PASSWORD)
        from client import TesseraClient

        async with TesseraClient(servers.meta_url, await servers.login("bob", PASSWORD)) as bob:
            state.set_meta(META_CURSOR, await bob.latest_cursor())
        await client.delete("/docs/f.txt")
        third = await pull(client, state, pending, _offload)
        assert third.relisted
        assert set(state.nodes("remote")) == {"/docs"}
        assert pending.paths() == []
    finally:
        state.close()
