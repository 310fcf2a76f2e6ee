"""Shared folders in the web app and in share links, through the real servers: the pages read a
share through the caller's mount with their role checked as the API does, and a link into a share
is a link of the share's namespace that only its owner and editors may make."""

from __future__ import annotations

import io
import zipfile

import aiohttp
import pytest

from tests.metaserver.pages.conftest import api_call, put_file


@pytest.fixture
async def team(web_servers):
    """alice shares /Team (a.txt in it); bob is its editor, carol its viewer, dave a stranger."""
    tokens = {}
    for name in ("alice", "bob", "carol", "dave"):
        await web_servers.add_user(name)
        tokens[name] = await web_servers.login(name)
    await put_file(web_servers, tokens["alice"], "/Team/a.txt", b"team notes")
    assert (await api_call(web_servers, tokens["alice"], "POST", "/v1/shares", {"path": "/Team"}))[0] == 200
    for name, role in (("bob", "editor"), ("carol", "viewer")):
        status, inv = await api_call(web_servers, tokens["alice"], "POST", "/v1/shares/invite",
                                     {"path": "/Team", "user": name, "role": role})  # fmt: skip
        assert status == 200, inv
        status, body = await api_call(web_servers, tokens[name], "POST", "/v1/shares/accept", {"id": inv["id"], "at": "/Shared"})
        assert status == 200 and body["path"] == "/Shared", body
    return tokens


async def _get(servers, token: str | None, path: str) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.get(servers.meta_url + path, allow_redirects=False) as r:
            return r.status, await r.read()


async def test_pages_read_a_share_through_the_members_mount(web_servers, team):
    status, page = await _get(web_servers, team["bob"], "/files/")
    assert status == 200 and b"Shared" in page
    status, page = await _get(web_servers, team["carol"], "/files/Shared")
    assert status == 200 and b"a.txt" in page
    status, page = await _get(web_servers, team["carol"], "/files/Shared/a.txt")
    assert status == 200 and b"team notes" in page  # the text preview, read with a grant of the share
    assert await _get(web_servers, team["bob"], "/download/Shared/a.txt") == (200, b"team notes")
    status, body = await _get(web_servers, team["carol"], "/zip/Shared")
    assert status == 200
    assert zipfile.ZipFile(io.BytesIO(body)).read("Shared/a.txt") == b"team notes"
    # a stranger asks their own tree, which has no such path
    assert (await _get(web_servers, team["dave"], "/download/Shared/a.txt"))[0] == 404
    assert (await _get(web_servers, team["dave"], "/files/Shared"))[0] == 404


async def test_a_removed_member_reads_nothing_more(web_servers, team):
    status, _ = await api_call(web_servers, team["alice"], "POST", "/v1/shares/remove", {"path": "/Team", "user": "bob"})
    assert status == 200
    assert (await _get(web_servers, team["bob"], "/download/Shared/a.txt"))[0] == 404


async def test_links_into_a_share_are_the_shares_and_only_owners_and_editors_make_them(web_servers, team):
    status, body = await api_call(web_servers, team["carol"], "POST", "/v1/links", {"path": "/Shared/a.txt"})
    assert status == 403 and body["error"]["code"] == "read_only"
    status, body = await api_call(web_servers, team["bob"], "POST", "/v1/links", {"path": "/Shared/a.txt"})
    assert status == 200 and body["link"]["path"] == "/Shared/a.txt", body
    link_id, url = body["link"]["id"], body["url"]
    share_ns = await web_servers.pool.fetchval("SELECT ns_id FROM mounts m JOIN users u ON u.id = m.user_id WHERE u.name = 'bob'")
    assert await web_servers.pool.fetchval("SELECT ns_id FROM links WHERE id = $1", link_id) == share_ns
    # a visitor downloads it: the link grant names the share's namespace, which the block server checks
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/download/") as r:
            assert (r.status, await r.read()) == (200, b"team notes")
    # the owner sees it in her own paths and may revoke it; the viewer and a stranger do not see it
    status, body = await api_call(web_servers, team["alice"], "GET", "/v1/links")
    assert [(x["id"], x["path"]) for x in body["links"]] == [(link_id, "/Team/a.txt")]
    for name in ("carol", "dave"):
        assert (await api_call(web_servers, team[name], "GET", "/v1/links"))[1]["links"] == []
        status, body = await api_call(web_servers, team[name], "POST", "/v1/links/revoke", {"id": link_id})
        assert status == 404, body
    status, body = await api_call(web_servers, team["alice"], "POST", "/v1/links/revoke", {"id": link_id})
    assert status == 200 and body["link"]["state"] == "revoked" and body["link"]["path"] == "/Team/a.txt"


async def test_pages_show_the_role_and_offer_changes_only_to_those_who_may_make_them(web_servers, team):
    status, page = await _get(web_servers, team["carol"], "/files/")
    assert status == 200 and b'class="badge role" data-role="viewer"' in page and b"icon-shared" in page
    for name, can_write in (("alice", True), ("bob", True), ("carol", False)):
        folder = "/files/Team" if name == "alice" else "/files/Shared"
        status, page = await _get(web_servers, team[name], folder)
        assert status == 200 and b'class="share-role"' in page, name
        for control in (b'id="pick-files"', b'data-action="mkdir"', b'data-action="rename"', b'data-action="link"'):
            assert (control in page) == can_write, (name, control)
        status, page = await _get(web_servers, team[name], folder + "/a.txt")
        assert (b'data-action="delete"' in page) == can_write, name
    # a folder inside a share cannot be shared again: no Share button there; one in the home tree
    await put_file(web_servers, team["alice"], "/Team/Sub/b.txt", b"b")
    status, page = await _get(web_servers, team["alice"], "/files/Team")
    assert b'aria-label="Share Sub"' not in page
    status, page = await _get(web_servers, team["alice"], "/files/")
    assert b'aria-label="Share Team"' in page
