"""The web app's routes over plain HTTP: sessions, CSRF, owner checks, limits, headers, ranges."""

from __future__ import annotations

import base64
import io
import os
import zipfile

import aiohttp
import pytest

from metaserver.pages import session
from metaserver.pages.signin import safe_next
from tests.metaserver.pages.conftest import Browserish, api_call, put_file, start_web_servers

MiB = 1024 * 1024
PAGE_ROUTES = ["/files/", "/files/x.txt", "/download/x.txt", "/raw/x.txt", "/zip/", "/account", "/trash",
               "/devices", "/search?q=x"]  # fmt: skip


async def test_sign_in_sets_an_httponly_samesite_cookie_and_names_the_device(browserish, web_servers):
    async with browserish.session.get(browserish.url + "/login") as r:
        nonce = r.cookies[session.LOGIN_COOKIE].value
    headers = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
    async with browserish.session.post(
        browserish.url + "/login", data={"user": "alice", "password": "secret-pw", "nonce": nonce},
        headers=headers, allow_redirects=False,
    ) as r:  # fmt: skip
        assert r.status == 303 and r.headers["Location"] == "/files/"
        cookie = r.cookies["tessera_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
        assert not cookie["secure"]  # plain http here; https makes it Secure
    async with web_servers.pool.acquire() as conn:
        assert await conn.fetchval("SELECT device_name FROM tokens") == "web browser (Firefox)"


async def test_a_wrong_password_shows_the_form_again(browserish):
    r = await browserish.sign_in(password="nope")
    assert r.status == 401
    assert "wrong user name or password" in await r.text()


async def test_a_disabled_account_cannot_sign_in(browserish, web_servers):
    async with web_servers.pool.acquire() as conn:
        await conn.execute("UPDATE users SET disabled_at = now()")
    r = await browserish.sign_in()
    assert r.status == 403 and "disabled" in await r.text()
    assert "tessera_session" not in {c.key for c in browserish.session.cookie_jar}


async def test_the_login_rate_limit_applies_to_the_form(browserish):
    statuses = [(await browserish.sign_in(password="wrong")).status for _ in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429


async def test_sign_in_without_the_form_nonce_is_refused(browserish):
    async with browserish.request("POST", "/login", data={"user": "alice", "password": "secret-pw"}) as r:
        assert r.status == 403 and "bad_csrf_token" in await r.text()


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "files", ""])
def test_after_sign_in_only_paths_of_this_site(target):
    assert safe_next(target) == "/files/"
    assert safe_next("/files/Docs?sort=size") == "/files/Docs?sort=size"


def test_device_names_by_browser_family():
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
    edge = chrome + " Edg/131.0"
    safari = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"
    assert session.device_name(chrome) == "web browser (Chrome)"
    assert session.device_name(edge) == "web browser (Edge)"
    assert session.device_name(safari) == "web browser (Safari)"
    assert session.device_name(None) == "web browser"


async def test_api_requests_with_the_cookie_need_the_csrf_token(browserish):
    await browserish.sign_in()
    async with browserish.api("POST", "/v1/files/mkdir", {"path": "/no-token"}, csrf=False) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "bad_csrf_token"
    async with browserish.api("POST", "/v1/files/mkdir", {"path": "/bad"}, headers={"X-CSRF-Token": "x" * 43},
                              csrf=False) as r:  # fmt: skip
        assert r.status == 403 and (await r.json())["error"]["code"] == "bad_csrf_token"
    async with browserish.api("GET", "/v1/account", csrf=False) as r:  # reads too: the API never answers a bare cookie
        assert r.status == 403
    async with browserish.api("POST", "/v1/files/mkdir", {"path": "/with-token"}) as r:
        assert r.status == 200
    async with browserish.api("POST", "/v1/files/mkdir", {"path": "/x"}, headers={"Origin": "http://evil.example"}) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "bad_csrf_token"


async def test_the_csrf_token_is_bound_to_the_session(web_servers):
    await web_servers.add_user("bob", "bob-pw-123")
    await web_servers.add_user("alice", "secret-pw")
    jar = lambda: aiohttp.CookieJar(unsafe=True)  # noqa: E731
    async with aiohttp.ClientSession(cookie_jar=jar()) as a, aiohttp.ClientSession(cookie_jar=jar()) as b:
        alice, bob = Browserish(a, web_servers.meta_url), Browserish(b, web_servers.meta_url)
        await alice.sign_in()
        await bob.sign_in("bob", "bob-pw-123")
        assert alice.csrf and bob.csrf and alice.csrf != bob.csrf
        bob.csrf = alice.csrf
        async with bob.api("POST", "/v1/files/mkdir", {"path": "/stolen"}) as r:
            assert r.status == 403


async def test_sign_out_needs_the_csrf_field(browserish):
    await browserish.sign_in()
    async with browserish.request("POST", "/logout", data={}) as r:
        assert r.status == 403 and "bad_csrf_token" in await r.text()
    async with browserish.request("POST", "/logout", data={"csrf_token": browserish.csrf}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/login"
    async with browserish.api("GET", "/v1/account") as r:
        assert r.status == 401  # the token is revoked


@pytest.mark.parametrize("route", PAGE_ROUTES)
async def test_pages_need_a_session(browserish, route):
    async with browserish.request("GET", route, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith("/login?next=")


async def test_files_of_another_user_are_not_reachable(browserish, web_servers):
    await web_servers.add_user("bob", "bob-pw-123")
    bob = await web_servers.login("bob", "bob-pw-123")
    secret = await put_file(web_servers, bob, "/Private/secret.txt", b"bob's secret")
    await browserish.sign_in()
    for route in ("/files/Private/secret.txt", "/download/Private/secret.txt", "/raw/Private/secret.txt",
                  "/zip/Private", f"/download/secret.txt?rev={secret['rev']}", f"/raw/x.png?rev={secret['rev']}"):
        async with browserish.request("GET", route) as r:
            assert r.status == 404, route
            assert "bob's secret" not in await r.text()


async def test_every_page_has_csp_and_nosniff(browserish, web_servers):
    token = await web_servers.login()
    await put_file(web_servers, token, "/x.txt", b"x")
    async with browserish.request("GET", "/login") as r:
        _check_page_headers(r)
    await browserish.sign_in()
    for route in ("/files/", "/files/x.txt", "/files/missing", "/account", "/trash", "/devices", "/search?q=x"):
        async with browserish.request("GET", route) as r:
            assert r.status in (200, 404), route
            _check_page_headers(r)
    async with browserish.api("GET", "/v1/account") as r:
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def _check_page_headers(r: aiohttp.ClientResponse) -> None:
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"


async def test_static_files_are_cached_under_their_content_hash(browserish):
    async with browserish.request("GET", "/login") as r:
        page = await r.text()
    url = page.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    async with browserish.request("GET", url) as r:
        assert r.status == 200 and "immutable" in r.headers["Cache-Control"]
        assert r.headers["Content-Type"].startswith("text/css")
    async with browserish.request("GET", "/static/000000000000/app.css") as r:
        assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"


async def test_downloads_honour_ranges_across_blocks(browserish, web_servers):
    data = os.urandom(9 * MiB + 17)
    token = await web_servers.login()
    await put_file(web_servers, token, "/big.bin", data)
    await browserish.sign_in()
    async with browserish.request("GET", "/download/big.bin") as r:
        assert r.status == 200 and await r.read() == data
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert r.headers["Content-Type"] == "application/octet-stream"
        etag = r.headers["ETag"]
    first, last = 4 * MiB - 10, 8 * MiB + 5  # from the end of block 0 to the start of block 2
    async with browserish.request("GET", "/download/big.bin", headers={"Range": f"bytes={first}-{last}"}) as r:
        assert r.status == 206 and await r.read() == data[first : last + 1]
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
    async with browserish.request("HEAD", "/download/big.bin") as r:
        assert r.status == 200 and r.content_length == len(data) and r.headers["ETag"] == etag
    async with browserish.request("GET", "/download/big.bin", headers={"Range": "bytes=-100"}) as r:
        assert r.status == 206 and await r.read() == data[-100:]
    async with browserish.request("GET", "/download/big.bin", headers={"Range": f"bytes={len(data)}-"}) as r:
        assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"
    async with browserish.request("GET", "/download/big.bin", headers={"Range": "bytes=0-1,5-6"}) as r:
        assert r.status == 200  # several ranges: the whole file
    async with browserish.request("GET", "/download/big.bin", headers={"Range": "bytes=0-9", "If-Range": '"old"'}) as r:
        assert r.status == 200
    async with browserish.request("GET", "/download/big.bin", headers={"Range": "bytes=0-9", "If-Range": etag}) as r:
        assert r.status == 206 and await r.read() == data[:10]


async def test_a_corrupt_block_is_never_sent(browserish, web_servers):
    data = os.urandom(5 * MiB)
    token = await web_servers.login()
    await put_file(web_servers, token, "/c.bin", data)
    async with web_servers.pool.acquire() as conn:  # the store's copy of block 1 no longer matches its hash
        block_id = await conn.fetchval("SELECT block_id FROM version_blocks WHERE idx = 1")
    path = web_servers.config.blocks_dir / block_id[:2] / block_id
    path.write_bytes(b"\0" * path.stat().st_size)
    await browserish.sign_in()
    async with browserish.request("GET", "/download/c.bin", headers={"Range": f"bytes={4 * MiB}-"}) as r:
        assert r.status == 503 and (await r.text()).count("unavailable")
    with pytest.raises(aiohttp.ClientPayloadError):
        async with browserish.request("GET", "/download/c.bin") as r:
            assert r.status == 200
            await r.read()  # block 0 went out; block 1 failed its check: the answer is cut short


async def test_previews_never_serve_active_content_inline(browserish, web_servers):
    token = await web_servers.login()
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    )
    await put_file(web_servers, token, "/ok.png", png)
    await put_file(web_servers, token, "/evil.html", b"<script>alert(1)</script>")
    await put_file(web_servers, token, "/evil.svg", b"<svg onload=alert(1) xmlns='http://www.w3.org/2000/svg'/>")
    await put_file(web_servers, token, "/evil.png.html", b"<script>alert(1)</script>")
    await browserish.sign_in()
    async with browserish.request("GET", "/raw/ok.png") as r:
        assert r.headers["Content-Type"] == "image/png" and r.headers["Content-Disposition"].startswith("inline")
        assert "sandbox" in r.headers["Content-Security-Policy"] and r.headers["X-Content-Type-Options"] == "nosniff"
    for name in ("evil.html", "evil.svg", "evil.png.html"):
        async with browserish.request("GET", "/raw/" + name) as r:
            assert r.headers["Content-Type"] == "application/octet-stream", name
            assert r.headers["Content-Disposition"].startswith("attachment"), name
    async with browserish.request("GET", "/files/evil.html") as r:  # the text preview is escaped
        page = await r.text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


async def test_a_folder_as_a_zip(browserish, web_servers):
    token = await web_servers.login()
    files = {"/A/one.txt": b"1", "/A/B/two.bin": os.urandom(4 * MiB + 3), "/A/B/C/empty.txt": b""}
    for path, data in files.items():
        await put_file(web_servers, token, path, data)
    await api_call(web_servers, token, "POST", "/v1/files/mkdir", {"path": "/A/Empty folder"})
    await put_file(web_servers, token, "/outside.txt", b"not in the zip")
    await browserish.sign_in()
    async with browserish.request("GET", "/zip/A") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
        assert "chunked" in r.headers.get("Transfer-Encoding", "")  # streamed: no length known up front
        body = await r.read()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        assert names == {"A/one.txt", "A/B/", "A/B/two.bin", "A/B/C/", "A/B/C/empty.txt", "A/Empty folder/"}
        for path, data in files.items():
            assert zf.read(path[1:]) == data
    async with browserish.request("GET", "/zip/") as r:
        with zipfile.ZipFile(io.BytesIO(await r.read())) as zf:
            assert "Tessera/outside.txt" in zf.namelist()


async def test_block_server_cors_lets_only_the_app_in(web_servers):
    app_origin = web_servers.meta_url
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-tessera-grant"}
    async with aiohttp.ClientSession() as s:
        url = f"{web_servers.block_url}/v1/blocks/{'0' * 32}"
        async with s.options(url, headers={"Origin": app_origin, **preflight}) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == app_origin
            assert r.headers["Access-Control-Allow-Credentials"] == "true"
            assert "PUT" in r.headers["Access-Control-Allow-Methods"]
        async with s.options(url, headers={"Origin": "http://evil.example", **preflight}) as r:
            assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
            assert (await r.json())["error"]["code"] == "forbidden"
        await web_servers.add_user()
        token = await web_servers.login()  # a session cookie from another origin is not a credential
        cookie = {"Cookie": f"tessera_session={token}", "X-Tessera-Grant": "x"}
        async with s.put(url, data=b"x", headers={"Origin": "http://evil.example", **cookie}) as r:
            assert r.status == 401
        async with s.put(url, data=b"x", headers={"Origin": app_origin, **cookie}) as r:
            assert r.status == 403  # past authentication: the grant is what fails
            assert r.headers["Access-Control-Allow-Origin"] == app_origin


async def test_zip64_records_past_the_limit(browserish, web_servers, monkeypatch):
    """A file past 4 GiB gets ZIP64 sizes: shown here with the limit lowered to 1 MiB."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", MiB)
    data = os.urandom(2 * MiB + 1)
    token = await web_servers.login()
    await put_file(web_servers, token, "/Z/big.bin", data)
    await browserish.sign_in()
    async with browserish.request("GET", "/zip/Z") as r:
        body = await r.read()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        info = zf.getinfo("Z/big.bin")
        assert info.extract_version >= zipfile.ZIP64_VERSION and info.flag_bits & 0x08  # ZIP64, data descriptor
        assert zf.read("Z/big.bin") == data


@pytest.mark.parametrize("name", ["100% sure #1?.txt", "a+b&c=d;e.txt", "ünïcødé 文件.txt", "space at start.txt"])
async def test_names_with_url_characters_round_trip(browserish, web_servers, name):
    import re
    from urllib.parse import unquote

    token = await web_servers.login()
    await put_file(web_servers, token, "/Odd/" + name, name.encode())
    await browserish.sign_in()
    async with browserish.request("GET", "/files/Odd") as r:
        page = await r.text()
    hrefs = [unquote(h) for h in re.findall(r'href="(/download/Odd/[^"]+)"', page)]
    assert hrefs == ["/download/Odd/" + name]
    link = re.findall(r'href="(/download/Odd/[^"]+)"', page)[0]
    async with browserish.session.get(browserish.url + link) as r:  # the link exactly as the page gives it
        assert r.status == 200 and await r.read() == name.encode()


async def test_a_page_opened_at_localhost_uploads_to_the_block_server_as_localhost(browserish, web_servers):
    from yarl import URL

    await browserish.sign_in()
    meta, block = URL(web_servers.meta_url), URL(web_servers.block_url)
    async with browserish.request("GET", "/files/", headers={"Host": f"localhost:{meta.port}"}) as r:
        page = await r.text()
        assert f"connect-src 'self' http://localhost:{block.port};" in r.headers["Content-Security-Policy"]
    assert f"[&#34;http://localhost:{block.port}&#34;]" in page  # the block server under the page's name
    preflight = {"Origin": f"http://localhost:{meta.port}", "Access-Control-Request-Method": "PUT"}
    async with browserish.session.options(str(block.with_host("localhost")) + f"/v1/blocks/{'0' * 32}",
                                          headers=preflight) as r:  # fmt: skip
        assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == preflight["Origin"]


async def test_a_dead_block_server_is_passed_over(server_config, pool):

    dead = "http://127.0.0.1:9"  # nothing listens there
    servers = await start_web_servers(server_config, pool, block_urls=lambda real: (dead, real))
    try:
        await servers.add_user()
        token = await servers.login()
        data = os.urandom(9 * MiB)  # three blocks: each is tried on the dead server first or second
        await put_file(servers, token, "/d.bin", data)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            b = Browserish(s, servers.meta_url)
            await b.sign_in()
            async with b.request("GET", "/download/d.bin") as r:
                assert r.status == 200 and await r.read() == data
    finally:
        await servers.stop()


async def test_the_pages_poll_is_the_longpoll_with_csrf(browserish):
    async with browserish.request("GET", "/poll?timeout=30") as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"  # JSON, not a page
    await browserish.sign_in()
    async with browserish.api("GET", "/poll?timeout=30", csrf=False) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "bad_csrf_token"
    async with browserish.api("GET", "/poll?timeout=30") as r:  # no cursor: something to fetch at once
        assert r.status == 200 and (await r.json())["changes"] is True
