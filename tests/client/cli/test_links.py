"""``tessera link create|ls|revoke``, run as a real subprocess against the real servers; the link
it prints is opened as a visitor would."""

from __future__ import annotations

import re

import aiohttp
import pytest
from yarl import URL

from tests.client.conftest import PASSWORD, USER

from .cli_run import Tessera

TOKEN_PATH = re.compile(r"^/s/[A-Za-z0-9_-]{43}$")


@pytest.fixture
async def cli(servers, tmp_path) -> Tessera:
    await servers.add_user(USER, PASSWORD)
    t = Tessera(tmp_path / "config", tmp_path)
    r = await t("login", "--server", servers.meta_url, "--user", USER, "--password-stdin", stdin=f"{PASSWORD}\n".encode())
    assert r.code == 0, r
    (tmp_path / "note.txt").write_bytes(b"a shared note\n")
    r = await t("put", str(tmp_path / "note.txt"), "/Shared/note.txt")
    assert r.code == 0, r
    return t


async def _open(servers, url: str, **kw) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.get(servers.meta_url + URL(url).path, allow_redirects=False, **kw) as r:
            return r.status, await r.read()


async def test_link_create_prints_a_url_that_opens_the_file(cli, servers):
    r = await cli("link", "create", "Shared/note.txt")
    assert r.code == 0, r
    url = r.out.strip()
    assert len(r.out.splitlines()) == 1 and TOKEN_PATH.match(URL(url).path), url
    status, body = await _open(servers, url + "/download/")
    assert (status, body) == (200, b"a shared note\n")


async def test_link_options_list_and_revoke_with_json(cli, servers):
    r = await cli("link", "create", "/Shared", "--expires", "7d", "--password-stdin", "--view-only", "--json",
                  stdin=b"link password\n")  # fmt: skip
    assert r.code == 0, r
    made = r.json()
    link, url = made["link"], made["url"]
    assert link["path"] == "/Shared" and link["password"] and link["view_only"] and link["state"] == "active"
    assert 7 * 86400 - 60 < link["expires"] - link["created"] <= 7 * 86400
    assert (await _open(servers, url))[0] == 401  # the password first
    r = await cli("link", "ls")
    assert r.code == 0 and r.out.splitlines()[0].split() == ["ID", "STATE", "EXPIRES", "FLAGS", "PATH"], r
    assert "password,view-only" in r.out and r.out.splitlines()[1].endswith("/Shared")
    r = await cli("link", "revoke", str(link["id"]), "--json")
    assert r.code == 0 and r.json()["link"]["state"] == "revoked", r
    status, body = await _open(servers, url)
    assert status == 410 and b"turned off" in body
    r = await cli("link", "ls", "--json")
    assert [x["state"] for x in r.json()["links"]] == ["revoked"]


async def test_link_errors_are_one_line(cli):
    r = await cli("link", "create", "/nope.txt")
    r.assert_one_line_error("not_found")
    r = await cli("link", "revoke", "999999")
    r.assert_one_line_error("not_found")
    r = await cli("link", "create", "/Shared", "--password-stdin", stdin=b"short\n")
    r.assert_one_line_error("password_too_short")
    r = await cli("link", "create", "/Shared", "--expires", "soon")
    assert r.code == 2 and "not a lifetime" in r.err
