"""A file's history and restore (``GET /v1/files/revisions``, ``POST /v1/files/restore``), end to end."""

from __future__ import annotations

import pytest

from client import TesseraClient
from protocol.errors import BadRequest, IsAFolder, NotFound
from tests.client.conftest import FAST_RETRY


async def put(client: TesseraClient, tmp_path, remote: str, data: bytes) -> int:
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    return (await client.upload_file(src, remote)).metadata.rev


async def content(client: TesseraClient, tmp_path, remote: str, rev: int | None = None) -> bytes:
    out = tmp_path / "out.bin"
    await client.download_file(remote, out, rev=rev)
    return out.read_bytes()


async def test_history_lists_every_revision_and_restore_brings_one_back(client, tmp_path):
    r1 = await put(client, tmp_path, "/Docs/plan.txt", b"first draft\n")
    r2 = await put(client, tmp_path, "/docs/PLAN.txt", b"second draft, longer\n")  # same file (case)
    revs = await client.revisions("/docs/plan.txt")
    assert revs.path == "/Docs/plan.txt" and not revs.deleted and revs.rev == r2
    assert [r.rev for r in revs.revisions] == [r2, r1]
    assert [r.size for r in revs.revisions] == [21, 12]
    assert all(r.device == "test-device" and r.modified for r in revs.revisions)

    restored = await client.restore("/Docs/plan.txt", r1)
    assert restored.rev not in (r1, r2) and restored.size == 12
    assert await content(client, tmp_path, "/Docs/plan.txt") == b"first draft\n"
    assert await content(client, tmp_path, "/Docs/plan.txt", rev=r2) == b"second draft, longer\n"
    revs = await client.revisions("/Docs/plan.txt")
    assert [r.rev for r in revs.revisions] == [restored.rev, r2, r1] and revs.rev == restored.rev

    # restoring what the file already holds (a retry, or the same content) makes no new revision
    again = await client.restore("/Docs/plan.txt", r1)
    assert again.rev == restored.rev
    assert (await client.restore("/Docs/plan.txt", restored.rev)).rev == restored.rev
    assert len((await client.revisions("/Docs/plan.txt")).revisions) == 3
    assert len((await client.revisions("/Docs/plan.txt", limit=2)).revisions) == 2


async def test_a_deleted_file_keeps_its_history_and_comes_back_with_its_folders(client, tmp_path):
    r1 = await put(client, tmp_path, "/Photos/2026/beach.jpg", b"\xff\xd8 sand")
    r2 = await put(client, tmp_path, "/Photos/2026/beach.jpg", b"\xff\xd8 sand and sea")
    await client.delete("/Photos")
    revs = await client.revisions("/Photos/2026/beach.jpg")
    assert revs.deleted and revs.rev is None and [r.rev for r in revs.revisions] == [r2, r1]

    back = await client.restore("/Photos/2026/beach.jpg", r1)
    assert back.path == "/Photos/2026/beach.jpg"
    assert (await client.meta("/Photos/2026")).is_folder
    assert await content(client, tmp_path, "/Photos/2026/beach.jpg") == b"\xff\xd8 sand"
    revs = await client.revisions("/Photos/2026/beach.jpg")
    assert not revs.deleted and [r.rev for r in revs.revisions] == [back.rev, r2, r1]


async def test_other_devices_see_a_restore_in_the_change_feed(client, tmp_path):
    r1 = await put(client, tmp_path, "/a.txt", b"one")
    await put(client, tmp_path, "/a.txt", b"two")
    cursor = await client.latest_cursor()
    back = await client.restore("/a.txt", r1)
    page = await client.changes(cursor)
    assert [(e.path, e.rev) for e in page.entries] == [("/a.txt", back.rev)]


async def test_what_cannot_be_restored(client, servers, tmp_path):
    r1 = await put(client, tmp_path, "/x.txt", b"x")
    await put(client, tmp_path, "/y.txt", b"y")
    with pytest.raises(NotFound):
        await client.restore("/x.txt", 10**9)  # no such revision
    y_rev = (await client.meta("/y.txt")).rev
    with pytest.raises(NotFound):
        await client.restore("/x.txt", y_rev)  # a revision of another path
    with pytest.raises(NotFound):
        await client.revisions("/never.txt")
    await client.mkdir("/folder")
    with pytest.raises(IsAFolder):
        await client.revisions("/folder")
    # a file replaced by a folder: its history is there, but a restore would clobber the folder
    await client.delete("/x.txt")
    await client.mkdir("/x.txt")
    with pytest.raises(IsAFolder):
        await client.restore("/x.txt", r1)
    with pytest.raises(IsAFolder):
        await client.revisions("/x.txt")
    for bad in ({"path": "/y.txt", "rev": "1"}, {"path": "/y.txt", "rev": 0}, {"path": "/y.txt", "rev": True},
                {"path": 5, "rev": 1}, ["/y.txt", 1]):  # fmt: skip
        with pytest.raises(BadRequest):
            await client.call("POST", "/v1/files/restore", body=bad, idempotent=False)

    # another account can neither list nor restore this account's revisions
    await servers.add_user("bob", "bob-password")
    async with TesseraClient(servers.meta_url, await servers.login("bob", "bob-password"), retry=FAST_RETRY) as bob:
        with pytest.raises(NotFound):
            await bob.revisions("/y.txt")
        await put(bob, tmp_path, "/y.txt", b"bob's own")
        with pytest.raises(NotFound):
            await bob.restore("/y.txt", y_rev)
    assert await content(client, tmp_path, "/y.txt") == b"y"


async def test_a_moved_file_lists_what_it_held_under_its_new_name(client, tmp_path):
    r1 = await put(client, tmp_path, "/old.txt", b"v1")
    r2 = await put(client, tmp_path, "/old.txt", b"v2")
    await client.move("/old.txt", "/new.txt")
    revs = await client.revisions("/new.txt")
    assert [r.rev for r in revs.revisions] == [r2]
    with pytest.raises(NotFound):
        await client.restore("/new.txt", r1)  # held by /old.txt, never by /new.txt
    old = await client.revisions("/old.txt")
    assert old.deleted and [r.rev for r in old.revisions] == [r2, r1]
    back = await client.restore("/old.txt", r1)
    assert await content(client, tmp_path, "/old.txt") == b"v1" and back.rev not in (r1, r2)
