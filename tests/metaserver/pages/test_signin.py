"""Signing out (``POST /logout``, metaserver/pages/signin.py) through the real servers, with
every kind of broken request a browser or a hostile client can send: each answers 3xx or 4xx,
never a 5xx (the page fuzz test once saw a 500 here), and a session that is signed out stays so."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.metaserver.pages.conftest import Browserish


async def raw_request(url: str, method: str, path: str, headers: list[tuple[str, bytes]], body: bytes = b"") -> int:
    """The status of a request sent as raw bytes (header values a client library would refuse),
    with a Content-Length unless ``headers`` says how the body is framed."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = [f"{method} {path} HTTP/1.1".encode(), f"Host: {parts.netloc}".encode(), b"Connection: close"]
        head += [name.encode() + b": " + value for name, value in headers]
        if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
            head.append(f"Content-Length: {len(body)}".encode())
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


FORM = ("Content-Type", b"application/x-www-form-urlencoded")


@pytest.fixture
async def signed_in(browserish: Browserish) -> Browserish:
    await browserish.sign_in()
    return browserish


def session_cookie(b: Browserish) -> str:
    return next(c.value for c in b.session.cookie_jar if c.key == "tessera_session")


async def still_signed_in(b: Browserish) -> bool:
    async with b.api("GET", "/v1/account") as r:
        return r.status == 200


async def logout(b: Browserish, data, **kw) -> aiohttp.ClientResponse:
    async with b.request("POST", "/logout", data=data, allow_redirects=False, **kw) as r:
        await r.read()
        return r


async def test_signing_out_twice_and_at_once_is_a_redirect_each_time(signed_in, web_servers):
    cookie, csrf = session_cookie(signed_in), signed_in.csrf
    first, second = await asyncio.gather(
        raw_request(web_servers.meta_url, "POST", "/logout", [FORM, ("Cookie", f"tessera_session={cookie}".encode())],
                    f"csrf_token={csrf}".encode()),
        raw_request(web_servers.meta_url, "POST", "/logout", [FORM, ("Cookie", f"tessera_session={cookie}".encode())],
                    f"csrf_token={csrf}".encode()),
    )  # fmt: skip
    assert (first, second) == (303, 303)
    assert not await still_signed_in(signed_in)
    r = await logout(signed_in, {"csrf_token": csrf})  # signed out already (a stale tab)
    assert r.status == 303 and r.headers["Location"] == "/login"


async def test_a_disabled_users_session_signs_out(signed_in, web_servers):
    async with web_servers.pool.acquire() as conn:
        await conn.execute("UPDATE users SET disabled_at = now() WHERE name = 'alice'")
    r = await logout(signed_in, {"csrf_token": signed_in.csrf})
    assert r.status == 303 and r.headers["Location"] == "/login"


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, 403),  # no CSRF token
        ({"csrf_token": "x" * 43}, 403),  # a wrong one
        ({"csrf_token": ""}, 403),
        ({"csrf_token": "é" * 43}, 403),  # not ASCII (compare_digest refuses such strings)
        ({"csrf_token": "\U0001f600"}, 403),
    ],
)
async def test_a_missing_or_wrong_csrf_token_is_403(signed_in, fields, status):
    r = await logout(signed_in, fields)
    assert r.status == status
    assert await still_signed_in(signed_in)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ([("Content-Type", b"application/json")], b'{"csrf_token": "x"}', 415),
        ([("Content-Type", b"multipart/form-data; boundary=x")], b"--x--\r\n", 415),
        ([], b"csrf_token=x", 415),  # no type
        ([FORM], b"csrf_token=%FF%FE", 400),  # not UTF-8 in an escape
        ([FORM], b"csrf_token=\xff\xfe", 400),  # not ASCII at all
        ([FORM], b"&".join(b"f%d=1" % i for i in range(40)), 400),  # too many fields
        ([FORM, ("Transfer-Encoding", b"chunked")], b"5\r\nhello\r\n0\r\n\r\n", 411),  # no length announced
        ([FORM], b"x" * (17 * 1024), 413),
    ],
)
async def test_a_body_that_is_not_a_small_form_is_4xx(signed_in, web_servers, headers, body, status):
    cookie = ("Cookie", f"tessera_session={session_cookie(signed_in)}".encode())
    assert await raw_request(web_servers.meta_url, "POST", "/logout", [cookie, *headers], body) == status
    assert await still_signed_in(signed_in)


@pytest.mark.parametrize(
    "cookie",
    [
        b"tessera_session=",
        b"tessera_session=garbage",
        b"tessera_session=tsr_" + b"A" * 43,  # the shape of a token, unknown
        b"tessera_session=\xc3\xa9\xc3\xa9",  # UTF-8, not ASCII
        b"tessera_session=\xff\xfe\x80",  # not UTF-8
        b'tessera_session="quoted"',
        b"tessera_session=a; tessera_session=b",
        b"\xff=\xff; tessera_session=x",
    ],
)
@pytest.mark.parametrize("csrf", [b"", b"csrf_token=x", b"csrf_token=%C3%A9"])
async def test_a_missing_or_garbled_cookie_is_3xx_or_4xx(web_servers, cookie, csrf):
    await web_servers.add_user()
    status = await raw_request(web_servers.meta_url, "POST", "/logout", [FORM, ("Cookie", cookie)], csrf)
    assert 300 <= status < 500, (cookie, csrf, status)


async def test_without_a_cookie_signing_out_goes_to_the_sign_in_page(web_servers):
    assert await raw_request(web_servers.meta_url, "POST", "/logout", [FORM], b"") == 303


async def test_a_sign_out_from_another_site_is_refused(signed_in):
    r = await logout(signed_in, {"csrf_token": signed_in.csrf}, headers={"Origin": "http://evil.example"})
    assert r.status == 403
    assert await still_signed_in(signed_in)


@pytest.mark.parametrize("value", ["é" * 43, "\U0001f600", "x" * 43])
async def test_an_api_call_with_a_wrong_csrf_header_is_403(signed_in, web_servers, value):
    cookie = ("Cookie", f"tessera_session={session_cookie(signed_in)}".encode())
    header = ("X-CSRF-Token", value.encode())
    assert await raw_request(web_servers.meta_url, "GET", "/v1/account", [cookie, header]) == 403


@pytest.mark.parametrize("nonce", ["%C3%A9" * 10, "%F0%9F%98%80", ""])
async def test_a_sign_in_form_with_a_wrong_nonce_is_403(web_servers, nonce):
    await web_servers.add_user()
    body = f"user=alice&password=secret-pw&nonce={nonce}".encode()
    status = await raw_request(web_servers.meta_url, "POST", "/login", [FORM, ("Cookie", b"tessera_login=abc")], body)
    assert status == 403


@pytest.mark.parametrize("token", [b"\xff\xfe", b"tsr_\xc3\xa9", b"\xed\xa0\x80"])
async def test_a_token_that_is_not_utf8_is_401_on_both_servers(web_servers, token):
    auth = ("Authorization", b"Bearer " + token)
    assert await raw_request(web_servers.meta_url, "GET", "/v1/account", [auth]) == 401
    block = "/v1/blocks/" + "0" * 32
    assert await raw_request(web_servers.block_url, "GET", block, [auth]) == 401
