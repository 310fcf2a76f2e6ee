"""Hostile requests to the web app's routes (outside /v1, so not in docs/openapi.yaml's fuzz run):
paths and queries of any text or raw bytes, forged ranges, forms of any shape, junk session
cookies and CSRF tokens. No answer may be a 5xx and the server may log no traceback or error.

Like tests/test_openapi.py it runs ``tessera-server run`` in a subprocess (its log is read),
signed in through the form as a browser is; bounded and seeded for ``make test``, longer and
unseeded with ``-m soak``.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metaserver.core.users import create_user
from tests.metaserver.pages.conftest import CSRF_META, NONCE_FIELD, api_call, put_file
from tests.serverproc import server_process

PAGE_PREFIXES = ["/files/", "/download/", "/raw/", "/zip/"]
#: text of any kind, as a browser would percent-encode it, and raw bytes as a hostile client sends them
_texts = st.one_of(st.text(max_size=60), st.sampled_from(["..", ".", "//", "x.txt", "Folder", "a" * 5000, "%"]))
_raw = st.binary(max_size=40).map(lambda b: "".join(f"%{c:02X}" for c in b))
_numbers = st.one_of(st.integers(-(2**70), 2**70).map(str), st.sampled_from(["", "1e9", "0x10", "NaN", " 1"]))
_query_values = st.one_of(_texts, _raw, _numbers)
_query = st.dictionaries(st.sampled_from(["rev", "sort", "order", "q", "next", "cursor", "timeout"]), _query_values,
                         max_size=3)  # fmt: skip
_ranges = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.tuples(st.one_of(st.none(), st.integers(-5, 2**66)), st.one_of(st.none(), st.integers(-5, 2**66))).map(
        lambda ab: "bytes=" + "-".join("" if n is None else str(n) for n in ab)
    ),
    st.lists(st.integers(0, 5_000_000), min_size=2, max_size=6).map(
        lambda ns: "bytes=" + ",".join(f"{a}-{b}" for a, b in zip(ns[::2], ns[1::2], strict=False))
    ),
)
_form_fields = st.dictionaries(
    st.sampled_from(["user", "password", "nonce", "next", "csrf_token", "x"]), st.one_of(_texts, _raw), max_size=5
)
_content_types = st.sampled_from(["application/x-www-form-urlencoded", "multipart/form-data", "text/plain",
                                  "multipart/form-data; boundary=x", "application/json", ""])  # fmt: skip


class Fuzzer:
    """A signed-in browser's session (cookie and CSRF token) and what went wrong."""

    def __init__(self, url: str, examples: int, seeded: bool, links: tuple[str, ...] = ()) -> None:
        self.url = url
        #: share links' paths (``/s/<token>``): their pages are fuzzed too, without the session
        self.links = links
        self.session = requests.Session()
        self.problems: list[str] = []
        self.common = dict(max_examples=examples, deadline=None, database=None, derandomize=seeded,
                           suppress_health_check=list(HealthCheck))  # fmt: skip
        nonce = NONCE_FIELD.search(self.session.get(url + "/login", timeout=20).text).group(1)
        page = self.session.post(url + "/login", data={"user": "fuzz", "password": "pw-fuzz-fuzz", "nonce": nonce},
                                 timeout=20)  # fmt: skip
        self.csrf = CSRF_META.search(page.text).group(1)
        assert self.csrf and "tessera_session" in self.session.cookies

    def send(self, method: str, target: str, **kw) -> None:
        try:
            with self.session.request(method, self.url + target, timeout=20, stream=True, allow_redirects=False,
                                      **kw) as r:  # fmt: skip
                if r.status_code >= 500 and r.status_code != 503:
                    self.problems.append(f"{method} {target[:200]} {kw.get('headers', '')} -> {r.status_code}")
        except requests.ConnectionError:
            pass  # the server closed the connection (413: the rest of the body is not read)

    def run(self) -> list[str]:
        for test in (self.pages, self.ranges, self.forms, self.cookies, self.link_pages):
            test()
        return self.problems

    def pages(self) -> None:
        @settings(**self.common)
        @given(prefix=st.sampled_from([*PAGE_PREFIXES, "/", "/trash", "/devices", "/account", "/search", "/login",
                                       "/static/0/", "/poll"]),  # fmt: skip
               path=st.one_of(_texts.map(lambda t: requests.utils.quote(t, safe="/")), _raw), query=_query,
               method=st.sampled_from(["GET"] * 6 + ["HEAD", "POST", "PUT", "DELETE", "OPTIONS"]))  # fmt: skip
        def run(prefix, path, query, method) -> None:
            query.setdefault("timeout", "1")  # a poll with a valid cursor is held no longer than a second
            self.send(method, prefix + path, params=query, headers={"X-CSRF-Token": self.csrf})

        run()

    def ranges(self) -> None:
        @settings(**self.common)
        @given(target=st.sampled_from(["/download/big.bin", "/download/notes.txt", "/raw/pic.png", "/zip/Folder"]),
               range_=_ranges, if_range=st.one_of(st.none(), _texts.filter(str.isascii).filter(str.isprintable)))  # fmt: skip
        def run(target, range_, if_range) -> None:
            headers = {"Range": range_, **({"If-Range": if_range} if if_range is not None else {})}
            self.send("GET", target, headers=headers)

        run()

    def forms(self) -> None:
        @settings(**self.common)
        @given(route=st.sampled_from(["/login", "/logout"]), fields=_form_fields,
               ctype=st.one_of(st.just("application/x-www-form-urlencoded"), _content_types),
               raw=st.one_of(st.none(), st.binary(max_size=300)))  # fmt: skip
        def run(route, fields, ctype, raw) -> None:
            body = raw if raw is not None else "&".join(f"{k}={v}" for k, v in fields.items()).encode()
            if route == "/logout":  # never the real token: the session must live on for the other examples
                body = body.replace(self.csrf.encode(), b"")
            self.send("POST", route, data=body, headers={"Content-Type": ctype, "Origin": self.url})

        run()

    def cookies(self) -> None:
        @settings(**self.common)
        @given(cookie=st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=";,"), max_size=80),
               csrf=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)),
               target=st.sampled_from(["/files/", "/v1/files/list?path=/", "/poll?timeout=1", "/account"]),
               origin=st.one_of(st.none(), st.sampled_from(["http://evil.example", "null", "", self.url])),
               method=st.sampled_from(["GET", "POST"]))  # fmt: skip
        def run(cookie, csrf, target, origin, method) -> None:
            headers = {"Cookie": f"tessera_session={cookie}"}
            headers.update({"X-CSRF-Token": csrf} if csrf is not None else {})
            headers.update({"Origin": origin} if origin is not None else {})
            with requests.request(method, self.url + target, headers=headers, timeout=20, allow_redirects=False) as r:
                if r.status_code >= 500:
                    self.problems.append(f"{method} {target} cookie={cookie!r} -> {r.status_code}")

        run()


    def link_pages(self) -> None:
        tails = ["", "/", "/view/", "/download/", "/raw/", "/zip/"]

        @settings(**self.common)
        @given(link=st.sampled_from(self.links), tail=st.sampled_from(tails),
               path=st.one_of(_texts.map(lambda t: requests.utils.quote(t, safe="/")), _raw),
               range_=st.one_of(st.none(), _ranges.filter(lambda r: r == r.strip())), method=st.sampled_from(["GET"] * 6 + ["HEAD", "POST", "PUT"]),
               fields=_form_fields)  # fmt: skip
        def run(link, tail, path, range_, method, fields) -> None:
            target = link + tail + (path if tail.endswith("/") else "")
            headers = {"Range": range_} if range_ is not None else {}
            with requests.request(method, self.url + target, headers=headers, data=fields if method == "POST" else None,
                                  timeout=20, allow_redirects=False, stream=True) as r:  # fmt: skip
                if r.status_code >= 500 and r.status_code != 503:
                    self.problems.append(f"{method} {target[:200]} {headers} -> {r.status_code}")

        run()


async def _tree(meta_url: str, block_url: str, database_url: str) -> tuple[str, ...]:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await create_user(conn, "fuzz", "pw-fuzz-fuzz", 1 << 30)
    finally:
        await conn.close()
    servers = SimpleNamespace(meta_url=meta_url, block_url=block_url)
    status, answer = await api_call(servers, "", "POST", "/v1/auth/login", {"user": "fuzz", "password": "pw-fuzz-fuzz"})
    token = answer["token"]
    await api_call(servers, token, "POST", "/v1/files/mkdir", {"path": "/Folder"})
    for path, data in (("/big.bin", os.urandom(4 * 1024 * 1024 + 10)), ("/notes.txt", b"hello\n" * 100),
                       ("/pic.png", b"\x89PNG not really"), ("/Folder/in.txt", b"inside")):  # fmt: skip
        await put_file(servers, token, path, data)
    links = []
    for options in ({"path": "/"}, {"path": "/Folder", "password": "link pw 123"}, {"path": "/big.bin"},
                    {"path": "/Folder", "view_only": True}):  # fmt: skip
        status, answer = await api_call(servers, token, "POST", "/v1/links", options)
        assert status == 200, answer
        links.append("/s/" + answer["url"].rsplit("/", 1)[1])
    return tuple(links)


async def _run(database_url: str, tmp_path: Path, examples: int, seeded: bool) -> None:
    limits = ("--rate-limit", "0", "--login-rate-limit", "0", "--login-address-rate-limit", "0",
              "--link-rate-limit", "0", "--link-password-rate-limit", "0")  # fmt: skip
    async with server_process(database_url, tmp_path / "srv", *limits) as srv:
        links = await _tree(srv.meta_url, srv.block_url, database_url)
        fuzzer = await asyncio.to_thread(Fuzzer, srv.meta_url, examples, seeded, links)
        problems = await asyncio.to_thread(fuzzer.run)
        log = srv.log()
    assert not problems, "\n".join(problems[:20])
    assert "Traceback" not in log, log[-5000:]
    assert not re.search(r" (ERROR|CRITICAL) ", log), log[-5000:]


@pytest.mark.timeout(300)
async def test_fuzz_the_pages(database_url, tmp_path):
    await _run(database_url, tmp_path, examples=40, seeded=True)


@pytest.mark.soak
@pytest.mark.timeout(3600)
async def test_fuzz_the_pages_longer(database_url, tmp_path):
    await _run(database_url, tmp_path, examples=2000, seeded=False)
