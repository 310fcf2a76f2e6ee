"""Share links through the real servers, as an anonymous visitor over plain HTTP: file and folder
pages, downloads with Range, the folder zip, passwords, expiry, revocation, view-only, the
subtree and nothing else, rate limits."""

from __future__ import annotations

import contextlib
import io
import os
import re
import zipfile

import aiohttp
import pytest
from yarl import URL

from tests.metaserver.pages.conftest import api_call, put_file, start_web_servers

MiB = 1024 * 1024
LINK_URL = re.compile(r"^http://127\.0\.0\.1:\d+/s/([A-Za-z0-9_-]{43})$")


@pytest.fixture
async def owner(web_servers):
    await web_servers.add_user()
    return await web_servers.login()


async def make_link(servers, token: str, path: str, **options) -> tuple[str, dict]:
    status, body = await api_call(servers, token, "POST", "/v1/links", {"path": path, **options})
    assert status == 200, body
    assert LINK_URL.match(body["url"]), body["url"]
    return body["url"], body["link"]


def visitor():
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def fetch(session, url: str, **kw) -> tuple[int, bytes, aiohttp.ClientResponse]:
    async with session.get(url, allow_redirects=False, **kw) as r:
        return r.status, await r.read(), r


async def test_a_file_link_shows_the_file_and_streams_it_with_range(web_servers, owner):
    data = os.urandom(5 * MiB + 123)  # two blocks
    await put_file(web_servers, owner, "/Docs/report.bin", data)
    url, link = await make_link(web_servers, owner, "/docs/REPORT.bin")  # found by key, kept as stored
    assert link["path"] == "/Docs/report.bin" and link["kind"] == "file" and link["state"] == "active"
    async with visitor() as s:
        status, page, r = await fetch(s, url)
        assert status == 200 and r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        text = page.decode()
        assert "report.bin" in text and "5.0 MiB" in text and 'download>Download</a>' in text
        assert "<script" not in text  # plain HTML, no scripts for visitors
        status, body, r = await fetch(s, url + "/download/")
        assert status == 200 and body == data and r.headers["Accept-Ranges"] == "bytes"
        assert "attachment" in r.headers["Content-Disposition"]
        status, body, r = await fetch(s, url + "/download/", headers={"Range": f"bytes={4 * MiB - 5}-{4 * MiB + 4}"})
        assert status == 206 and body == data[4 * MiB - 5 : 4 * MiB + 5]
        assert r.headers["Content-Range"] == f"bytes {4 * MiB - 5}-{4 * MiB + 4}/{len(data)}"


async def _folder_tree(servers, token) -> dict[str, bytes]:
    files = {
        "/Docs/a.txt": b"hello from a\n",
        "/Docs/sub/b.bin": os.urandom(4 * MiB + 10),
        "/Docs/sub/deeper/c.md": b"# c\n",
        "/Docs/empty.txt": b"",
        "/Other/secret.txt": b"not for the link",
        "/Docs2/sibling.txt": b"the prefix trick",
    }
    for path, data in files.items():
        await put_file(servers, token, path, data)
    return files


async def test_a_folder_link_browses_its_subtree_and_zips_it_byte_for_byte(web_servers, owner):
    files = await _folder_tree(web_servers, owner)
    url, link = await make_link(web_servers, owner, "/Docs")
    assert link["kind"] == "folder"
    async with visitor() as s:
        status, page, _ = await fetch(s, url)
        text = page.decode()
        assert status == 200 and "a.txt" in text and ">sub<" in text and "Download folder (zip)" in text
        assert "secret" not in text and "Docs2" not in text and "Other" not in text
        status, page, _ = await fetch(s, url + "/view/sub")
        assert status == 200 and "b.bin" in page.decode() and "deeper" in page.decode()
        status, page, _ = await fetch(s, url + "/view/sub/deeper/c.md")
        assert status == 200 and "# c" in page.decode()  # a text preview
        status, body, _ = await fetch(s, url + "/download/sub/b.bin")
        assert status == 200 and body == files["/Docs/sub/b.bin"]
        status, body, r = await fetch(s, url + "/zip/")
        assert status == 200 and r.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        got = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    assert got == {"Docs" + p[len("/Docs") :]: d for p, d in files.items() if p.startswith("/Docs/")}


TRAVERSALS = [
    "/view/..", "/view/../Other/secret.txt", "/view/%2e%2e/Other/secret.txt", "/view/%2E%2E%2FOther%2Fsecret.txt",
    "/view/sub/../../Other/secret.txt", "/view/sub/%2e%2e/%2e%2e/Other", "/download/..%2fOther%2fsecret.txt",
    "/download/..%5cOther%5csecret.txt", "/view/.", "/view/sub/./b.bin", "/zip/..", "/zip/%2e%2e",
    "/download/%252e%252e/Other/secret.txt", "/view//Other/secret.txt", "/raw/../Other/secret.txt",
    "/view/..%00/Other", "/view/%2e%2e%2f%2e%2e%2fDocs2",
]  # fmt: skip


async def test_no_path_leads_out_of_the_link(web_servers, owner):
    await _folder_tree(web_servers, owner)
    url, _ = await make_link(web_servers, owner, "/Docs")
    async with visitor() as s:
        for tail in TRAVERSALS:
            status, body, _ = await fetch(s, URL(url + tail, encoded=True))
            assert status in (400, 404), (tail, status)
            assert b"not for the link" not in body and b"secret" not in body and b"sibling" not in body, tail
        # the folder beside it whose name starts the same is not within it
        url2, _ = await make_link(web_servers, owner, "/Docs/sub")
        for tail in ("/view/../a.txt", "/download/../a.txt", "/view/..%2fa.txt"):
            status, body, _ = await fetch(s, URL(url2 + tail, encoded=True))
            assert status in (400, 404) and b"hello from a" not in body, tail


async def test_a_password_link_asks_first_and_remembers_only_for_that_link(web_servers, owner):
    await put_file(web_servers, owner, "/p.txt", b"protected bytes")
    url, link = await make_link(web_servers, owner, "/p.txt", password="correct horse")
    assert link["password"] is True
    other_url, _ = await make_link(web_servers, owner, "/p.txt", password="another one")
    async with visitor() as s:
        status, page, _ = await fetch(s, url)
        assert status == 401 and 'type="password"' in page.decode() and b"protected bytes" not in page
        status, body, _ = await fetch(s, url + "/download/")
        assert status == 401 and b"protected bytes" not in body
        async with s.post(url, data={"password": "wrong horse"}, allow_redirects=False) as r:
            assert r.status == 401 and "not right" in await r.text()
        async with s.post(url, data={"password": "correct horse"}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == URL(url).path
            cookie = next(iter(r.cookies.values()))
            assert cookie["path"] == URL(url).path and cookie["httponly"]
        status, body, _ = await fetch(s, url + "/download/")
        assert status == 200 and body == b"protected bytes"
        status, _, _ = await fetch(s, other_url + "/download/")
        assert status == 401  # the cookie is this link's only
        async with s.post(url, data={"password": "x"}, headers={"Origin": "http://evil.example"}) as r:
            assert r.status == 403


@contextlib.asynccontextmanager
async def limited_link(server_config, pool, path: str, options: dict, **limits):
    """Servers with ``limits`` and a link to a new file at ``path``: (servers, url)."""
    servers = await start_web_servers(server_config, pool, **limits)
    try:
        await servers.add_user()
        token = await servers.login()
        await put_file(servers, token, path, b"x")
        url, _ = await make_link(servers, token, path, **options)
        yield servers, url
    finally:
        await servers.stop()


async def test_wrong_passwords_are_rate_limited_per_link(server_config, pool):
    limits = {"link_password_burst": 3, "link_password_rate_limit": 0.01}
    async with limited_link(server_config, pool, "/p.txt", {"password": "correct horse"}, **limits) as (_, url):
        async with visitor() as s:
            statuses = []
            for _ in range(5):
                async with s.post(url, data={"password": "guess"}, allow_redirects=False) as r:
                    statuses.append(r.status)
                    retry = r.headers.get("Retry-After")
            assert statuses == [401, 401, 401, 429, 429] and int(retry) >= 1
            async with s.post(url, data={"password": "correct horse"}, allow_redirects=False) as r:
                assert r.status == 429  # the right one waits too: guessing it is what is limited


async def test_an_expired_link_is_gone(web_servers, owner):
    await put_file(web_servers, owner, "/e.txt", b"soon gone")
    url, link = await make_link(web_servers, owner, "/e.txt", expires_in=3600)
    assert link["expires"] > link["created"] + 3500
    async with visitor() as s:
        assert (await fetch(s, url))[0] == 200
        async with web_servers.pool.acquire() as conn:
            await conn.execute("UPDATE links SET expires_at = now() - interval '1 second' WHERE id = $1", link["id"])
        for tail in ("", "/download/", "/raw/", "/zip/"):
            status, page, _ = await fetch(s, url + tail)
            assert status == 410 and "expired" in page.decode() and b"soon gone" not in page, tail
    status, body = await api_call(web_servers, owner, "GET", "/v1/links")
    assert [x["state"] for x in body["links"]] == ["expired"]


async def _read_with_link_grant(servers, link_id: int, path: str) -> tuple[int, bytes]:
    """The first block of the file at ``path`` (any user's) read from the block server with a link grant."""
    from metaserver.core.grants import link_grant

    async with servers.pool.acquire() as conn:
        block = await conn.fetchrow(
            "SELECT b.id::text AS id, b.size FROM version_blocks vb JOIN versions v ON v.id = vb.version_id "
            "JOIN blocks b ON b.id = vb.block_id WHERE v.path = $1 AND vb.idx = 0",
            path,
        )
    grant = link_grant(servers.config, link_id, block["id"].replace("-", ""), block["size"])
    async with visitor() as s:
        status, body, _ = await fetch(s, f"{servers.block_url}/v1/blocks/{block['id']}", headers={"X-Tessera-Grant": grant})
    return status, body


async def test_a_revoked_link_stops_mid_browse_and_at_the_block_server(web_servers, owner):
    await _folder_tree(web_servers, owner)
    url, link = await make_link(web_servers, owner, "/Docs")
    async with visitor() as s:
        assert (await fetch(s, url))[0] == 200
        assert (await fetch(s, url + "/view/sub"))[0] == 200
        status, body = await api_call(web_servers, owner, "POST", "/v1/links/revoke", {"id": link["id"]})
        assert status == 200 and body["link"]["state"] == "revoked"
        status, page, _ = await fetch(s, url + "/view/sub/deeper")
        assert status == 410 and "turned off" in page.decode()
        assert (await fetch(s, url + "/download/a.txt"))[0] == 410
        # a link grant the metadata server made before cannot be used after
        status, body = await _read_with_link_grant(web_servers, link["id"], "/Docs/a.txt")
        assert status == 403 and b"hello" not in body


async def test_a_link_grant_reads_only_its_namespace_blocks(web_servers, owner):
    await put_file(web_servers, owner, "/mine.txt", b"alice's")
    await web_servers.add_user("bob")
    bob = await web_servers.login("bob")
    await put_file(web_servers, bob, "/bobs.txt", b"bob's own bytes")
    _, link = await make_link(web_servers, owner, "/mine.txt")
    assert (await _read_with_link_grant(web_servers, link["id"], "/mine.txt")) == (200, b"alice's")
    status, body = await _read_with_link_grant(web_servers, link["id"], "/bobs.txt")
    assert status == 403 and b"bob" not in body


async def test_a_view_only_link_shows_but_never_downloads(web_servers, owner):
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f0e7d50000000049454e44ae426082")  # fmt: skip
    await put_file(web_servers, owner, "/Pics/dot.png", png)
    await put_file(web_servers, owner, "/Pics/notes.txt", b"just <b>text</b>")
    await put_file(web_servers, owner, "/Pics/data.bin", b"\x00\x01binary")
    url, link = await make_link(web_servers, owner, "/Pics", view_only=True)
    assert link["view_only"] is True
    async with visitor() as s:
        status, page, _ = await fetch(s, url)
        text = page.decode()
        assert status == 200 and "dot.png" in text and "View only" in text
        assert "Download" not in text and "/download/" not in text and "/zip/" not in text
        status, page, _ = await fetch(s, url + "/view/notes.txt")
        assert status == 200 and "just &lt;b&gt;text&lt;/b&gt;" in page.decode() and "Download" not in page.decode()
        status, body, r = await fetch(s, url + "/raw/dot.png")
        assert status == 200 and body == png and r.headers["Content-Type"] == "image/png"
        assert "sandbox" in r.headers["Content-Security-Policy"]
        for tail in ("/download/notes.txt", "/download/dot.png", "/zip/", "/raw/data.bin", "/raw/notes.txt"):
            status, body, _ = await fetch(s, url + tail)
            assert status == 403 and b"binary" not in body and b"just" not in body, tail


async def test_links_are_the_owners_own(web_servers, owner):
    await put_file(web_servers, owner, "/a.txt", b"a")
    _, link = await make_link(web_servers, owner, "/a.txt")
    await web_servers.add_user("bob")
    bob = await web_servers.login("bob")
    status, body = await api_call(web_servers, bob, "POST", "/v1/links", {"path": "/a.txt"})
    assert status == 404 and body["error"]["code"] == "not_found"  # bob's tree has no /a.txt
    status, body = await api_call(web_servers, bob, "POST", "/v1/links/revoke", {"id": link["id"]})
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api_call(web_servers, bob, "GET", "/v1/links")
    assert status == 200 and body["links"] == []
    status, body = await api_call(web_servers, owner, "GET", "/v1/links")
    assert [x["id"] for x in body["links"]] == [link["id"]] and "token" not in str(body)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "bad_path"),
        ({"path": "/a.txt", "expires_in": 5}, 400, "bad_request"),
        ({"path": "/a.txt", "expires_in": "7d"}, 400, "bad_request"),
        ({"path": "/a.txt", "password": "short"}, 400, "password_too_short"),
        ({"path": "/a.txt", "password": 12345678}, 400, "bad_request"),
        ({"path": "/a.txt", "view_only": "yes"}, 400, "bad_request"),
        ({"path": "/nope.txt"}, 404, "not_found"),
    ],
)
async def test_bad_link_requests_are_4xx_with_a_code(web_servers, owner, body, status, code):
    await put_file(web_servers, owner, "/a.txt", b"a")
    got_status, got = await api_call(web_servers, owner, "POST", "/v1/links", body)
    assert (got_status, got["error"]["code"]) == (status, code), got


async def test_link_routes_need_a_token_and_a_small_body(web_servers):
    async with aiohttp.ClientSession() as s:
        async with s.get(web_servers.meta_url + "/v1/links") as r:
            assert r.status == 401
        async with s.post(web_servers.meta_url + "/v1/links", data=b"x" * 20000,
                          headers={"Content-Type": "application/json"}) as r:  # fmt: skip
            assert r.status == 413 and (await r.json())["error"]["code"] == "body_too_large"


async def test_names_are_escaped_and_unknown_tokens_are_404(web_servers, owner):
    await put_file(web_servers, owner, "/F/<script>alert(1)</script>.txt", b"x")
    url, _ = await make_link(web_servers, owner, "/F")
    async with visitor() as s:
        status, page, _ = await fetch(s, url)
        assert status == 200 and "<script>alert" not in page.decode() and "&lt;script&gt;" in page.decode()
        for bad in ("A" * 43, "short", "A" * 44, "%00" * 10):
            status, page, _ = await fetch(s, URL(f"{web_servers.meta_url}/s/{bad}", encoded=True))
            assert status == 404, bad


async def test_anonymous_link_requests_over_the_limit_get_429(server_config, pool):
    async with limited_link(server_config, pool, "/x.txt", {}, link_burst=10, link_rate_limit=0.5) as (_, url):
        async with visitor() as s:
            answers = [await fetch(s, url) for _ in range(30)]
    statuses = [a[0] for a in answers]
    assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}, statuses
    status, page, r = answers[-1]
    assert int(r.headers["Retry-After"]) >= 1 and "Too many requests" in page.decode()
