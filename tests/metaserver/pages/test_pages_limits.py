"""What a hostile or clumsy client gets from the pages: 4xx pages with their code for bad input,
bounded and strictly parsed forms, the session's rate limit (see also test_pages_fuzz.py)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.metaserver.pages.conftest import Browserish, api_call, put_file, start_web_servers


@pytest.mark.parametrize(
    ("route", "status", "code"),
    [
        ("/files/a%00b", 400, "bad_path"),
        ("/download/missing.txt", 404, "not_found"),
        ("/download/x.txt?rev=abc", 400, "bad_request"),
        ("/download/x.txt?rev=-1", 400, "bad_request"),
        ("/zip/x.txt", 409, "not_a_folder"),
        ("/download/Folder", 409, "is_a_folder"),
        ("/no-such-page", 404, "not_found"),
        ("/static/0/nope.js", 404, "not_found"),
    ],
)
async def test_bad_input_is_a_4xx_page_with_its_code(browserish, web_servers, route, status, code):
    await browserish.sign_in()
    token = await web_servers.login()
    await put_file(web_servers, token, "/x.txt", b"x")
    await api_call(web_servers, token, "POST", "/v1/files/mkdir", {"path": "/Folder"})
    async with browserish.request("GET", route) as r:
        assert r.status == status, await r.text()
        assert code in await r.text()


async def test_form_bodies_are_limited(browserish):
    async with browserish.request("POST", "/login", data={"user": "a" * 20_000, "password": "x", "nonce": "n"}) as r:
        assert r.status == 413 and "body_too_large" in await r.text()
        assert r.headers["Connection"] == "close"  # the rest of the body is not read
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for body, headers, status, code in (
        (b"user=%C3&password=x", form, 400, "bad_request"),  # not UTF-8
        (b"user=a%00b&password=x", form, 400, "bad_request"),  # NUL
        ("user=é".encode(), form, 400, "bad_request"),  # not url-encoded
        (b"&".join(b"f%d=1" % i for i in range(40)), form, 400, "bad_request"),  # too many fields
        (b"--x\r\n", {"Content-Type": "multipart/form-data; boundary=x"}, 415, "unsupported_media_type"),
    ):  # fmt: skip
        async with browserish.request("POST", "/login", data=body, headers=headers) as r:
            assert (r.status, r.content_type) == (status, "text/html"), body
            assert code in await r.text()
    await browserish.sign_in()

    async def chunks():
        yield b"csrf_token=" + browserish.csrf.encode()

    async with browserish.request(
        "POST", "/logout", data=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status == 411  # no Content-Length: not read at all


async def test_pages_and_their_api_calls_share_the_sessions_rate_limit(server_config, pool):
    """The session cookie is the device token, drawn from its bucket like a device's requests:
    pages, downloads and the page's API calls alike; 429 as a page with Retry-After."""
    servers = await start_web_servers(server_config, pool, rate_limit=0.05, rate_burst=6)
    try:
        await servers.add_user()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            browser = Browserish(s, servers.meta_url)
            await browser.sign_in()  # the form's answer is the files page: one draw
            statuses = []
            for route in ("/files/", "/account", "/zip/", "/trash", "/files/"):
                async with browser.request("GET", route, allow_redirects=False) as r:
                    statuses.append(r.status)
            async with browser.api("GET", "/v1/files/list", params={"path": "/"}) as r:
                assert r.status == 429 and (await r.json())["error"]["code"] == "rate_limited"
            async with browser.request("GET", "/files/", allow_redirects=False) as r:
                page = await r.text()
                assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
                assert "rate_limited" in page and r.content_type == "text/html"
        assert statuses == [200] * 5
    finally:
        await servers.stop()
