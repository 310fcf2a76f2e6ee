"""Share links follow what they open (metaserver/links/follow.py), through the real servers: a
visitor keeps getting the same bytes after a rename, a move, sharing the folder above, unsharing
it and a move between namespaces; a link on a shared folder's root works before and after."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from metaserver.links.follow import moved_path
from tests.metaserver.pages.conftest import api_call, put_file
from tests.metaserver.pages.test_links_http import fetch, make_link, visitor

MiB = 1024 * 1024


@pytest.fixture
async def alice(web_servers):
    await web_servers.add_user()
    return await web_servers.login()


async def ok(servers, token: str, endpoint: str, body: dict) -> dict:
    status, answer = await api_call(servers, token, "POST", endpoint, body)
    assert status == 200, answer
    return answer


async def opens(url: str, tail: str = "/download/") -> tuple[int, bytes]:
    async with visitor() as s:
        status, body, _ = await fetch(s, url + tail)
    return status, body


async def link_paths(servers, token: str) -> dict[int, str]:
    status, body = await api_call(servers, token, "GET", "/v1/links")
    assert status == 200, body
    return {x["id"]: x["path"] for x in body["links"]}


@pytest.mark.parametrize(
    ("path", "src", "dst", "moved"),
    [
        ("/A/b.txt", "/A", "/C/D", "/C/D/b.txt"),
        ("/A", "/A", "/B", "/B"),
        ("/Team", "/Team", "/", "/"),
        ("/Team/x/y", "/Team", "/", "/x/y"),
        ("/", "/", "/Team", "/Team"),
        ("/x/y", "/", "/Team", "/Team/x/y"),
        ("/Straße/f", "/STRASSE", "/s", "/s/f"),  # cut by components, not by the key's length
    ],
)
def test_moved_path(path, src, dst, moved):
    assert moved_path(path, src, dst) == moved


async def test_a_file_link_follows_renames_and_moves(web_servers, alice):
    data = os.urandom(4 * MiB + 99)  # two blocks, read with the link's grants
    await put_file(web_servers, alice, "/Docs/report.bin", data)
    url, link = await make_link(web_servers, alice, "/Docs/report.bin")
    steps = [
        ("/Docs/report.bin", "/Docs/final.bin"),  # a rename
        ("/Docs/final.bin", "/Archive/2024/final.bin"),  # into another folder (made on the way)
        ("/Archive", "/Old"),  # the folder above, renamed
        ("/Old", "/old"),  # a change of case only
    ]
    for src, dst in steps:
        await ok(web_servers, alice, "/v1/files/move", {"from": src, "to": dst})
        assert await opens(url) == (200, data), (src, dst)
    assert (await link_paths(web_servers, alice))[link["id"]] == "/old/2024/final.bin"
    # a file made where the link's file was is not what the link opens
    await put_file(web_servers, alice, "/Docs/report.bin", b"someone else")
    assert await opens(url) == (200, data)


async def test_a_folder_link_follows_its_folder(web_servers, alice):
    await put_file(web_servers, alice, "/Photos/2024/a.jpg", b"jpeg bytes")
    url, link = await make_link(web_servers, alice, "/Photos/2024")
    await ok(web_servers, alice, "/v1/files/move", {"from": "/Photos", "to": "/Pictures"})
    assert await opens(url, "/download/a.jpg") == (200, b"jpeg bytes")
    status, body = await opens(url, "/zip/")
    assert status == 200 and zipfile.ZipFile(io.BytesIO(body)).read("2024/a.jpg") == b"jpeg bytes"
    assert (await link_paths(web_servers, alice))[link["id"]] == "/Pictures/2024"


async def test_links_follow_into_a_new_share_and_back_out(web_servers, alice):
    data = os.urandom(MiB + 7)
    await put_file(web_servers, alice, "/Team/plans/q3.bin", data)
    file_url, file_link = await make_link(web_servers, alice, "/Team/plans/q3.bin")
    root_url, root_link = await make_link(web_servers, alice, "/Team")
    above_url, above_link = await make_link(web_servers, alice, "/")  # the home's root: stays there
    share = await ok(web_servers, alice, "/v1/shares", {"path": "/Team"})
    async with web_servers.pool.acquire() as conn:
        rows = {r["id"]: (r["ns_id"], r["path"]) for r in await conn.fetch("SELECT id, ns_id, path FROM links")}
    assert rows[root_link["id"]] == (share["ns_id"], "/")  # the shared folder itself: the share's root
    assert rows[file_link["id"]] == (share["ns_id"], "/plans/q3.bin")
    assert rows[above_link["id"]][0] != share["ns_id"]
    for url, tail in ((file_url, "/download/"), (root_url, "/download/plans/q3.bin")):
        assert await opens(url, tail) == (200, data)
    status, body = await opens(root_url, "/zip/")
    assert status == 200 and zipfile.ZipFile(io.BytesIO(body)).read("Team/plans/q3.bin") == data
    listed = await link_paths(web_servers, alice)  # in alice's paths, through her mount
    assert listed[root_link["id"]] == "/Team" and listed[file_link["id"]] == "/Team/plans/q3.bin"

    await ok(web_servers, alice, "/v1/shares/unshare", {"path": "/Team"})
    for url, tail in ((file_url, "/download/"), (root_url, "/download/plans/q3.bin")):
        assert await opens(url, tail) == (200, data)
    status, page = await opens(root_url, "")
    assert status == 200 and b"plans" in page
    listed = await link_paths(web_servers, alice)
    assert listed[root_link["id"]] == "/Team" and listed[file_link["id"]] == "/Team/plans/q3.bin"
    async with web_servers.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM links WHERE ns_id = $1", share["ns_id"]) == 0


async def test_a_link_below_a_shared_folder_in_a_deeper_folder_follows(web_servers, alice):
    await put_file(web_servers, alice, "/Work/Team/notes.txt", b"notes")
    url, _ = await make_link(web_servers, alice, "/Work/Team/notes.txt")
    await ok(web_servers, alice, "/v1/shares", {"path": "/Work/Team"})
    assert await opens(url) == (200, b"notes")
    await ok(web_servers, alice, "/v1/files/move", {"from": "/Work/Team/notes.txt", "to": "/Work/Team/n.txt"})
    assert await opens(url) == (200, b"notes")  # a rename inside the share
    await ok(web_servers, alice, "/v1/shares/unshare", {"path": "/Work/Team"})
    assert await opens(url) == (200, b"notes")


async def test_links_follow_moves_between_namespaces(web_servers, alice):
    await put_file(web_servers, alice, "/Team/readme.txt", b"team")
    await ok(web_servers, alice, "/v1/shares", {"path": "/Team"})
    data = os.urandom(4 * MiB + 1)
    await put_file(web_servers, alice, "/Inbox/big.bin", data)
    await put_file(web_servers, alice, "/Inbox/small.txt", b"small")
    file_url, _ = await make_link(web_servers, alice, "/Inbox/big.bin")
    folder_url, _ = await make_link(web_servers, alice, "/Inbox")
    await ok(web_servers, alice, "/v1/files/move", {"from": "/Inbox", "to": "/Team/Inbox"})  # home -> share
    assert await opens(file_url) == (200, data)
    assert await opens(folder_url, "/download/small.txt") == (200, b"small")
    await ok(web_servers, alice, "/v1/files/move", {"from": "/Team/Inbox/big.bin", "to": "/big.bin"})  # share -> home
    assert await opens(file_url) == (200, data)
    assert (await opens(folder_url, "/download/big.bin"))[0] == 404  # no longer below the folder
    assert await opens(folder_url, "/download/small.txt") == (200, b"small")


async def test_a_deleted_target_opens_nothing_until_it_is_restored(web_servers, alice):
    await put_file(web_servers, alice, "/Docs/a.txt", b"first")
    await put_file(web_servers, alice, "/Docs/b.txt", b"second")
    url, _ = await make_link(web_servers, alice, "/Docs/a.txt")
    await ok(web_servers, alice, "/v1/files/delete", {"path": "/Docs/a.txt"})
    for tail in ("", "/download/"):
        status, page = await opens(url, tail)
        assert status == 404 and b"first" not in page, tail
    # its folder moves while it is in the trash: the link stays with the deleted file
    await ok(web_servers, alice, "/v1/files/move", {"from": "/Docs", "to": "/Papers"})
    assert (await opens(url))[0] == 404
    await ok(web_servers, alice, "/v1/trash/restore", {"path": "/Docs/a.txt"})
    assert await opens(url) == (200, b"first")


async def test_a_link_made_during_a_move_waits_for_it(web_servers, alice):
    """A move that has read the links but not committed when a link to what it moves is asked
    for: the link is made after the move, against the tree as it is then (the move's lock)."""
    import asyncio

    from metaserver.links.follow import follow
    from metaserver.tree import ops
    from metaserver.tree.journal import Author, Journal

    await put_file(web_servers, alice, "/a.txt", b"aaa")
    async with web_servers.pool.acquire() as conn:
        ns_id = await conn.fetchval("SELECT n.id FROM namespaces n JOIN users u ON u.id = n.owner_id WHERE u.name = 'alice'")
        async with conn.transaction():  # a move, as POST /v1/files/move makes it, held open
            j = await Journal.begin(conn, ns_id, Author(None, "test"))
            await ops.move(j, "/a.txt", "/b.txt")
            await follow(conn, ns_id, "/a.txt", ns_id, "/b.txt")
            await j.flush()
            made = asyncio.ensure_future(api_call(web_servers, alice, "POST", "/v1/links", {"path": "/a.txt"}))
            await asyncio.sleep(0.5)
            assert not made.done()  # waits for the move
    status, answer = await made
    assert status == 404, answer  # /a.txt is gone: no link to nothing
    url, _ = await make_link(web_servers, alice, "/b.txt")
    assert await opens(url) == (200, b"aaa")
