"""The web app's folder zip (metaserver/pages/archive.py) with shared folders, through the real
servers: a folder of the home tree holds the shares mounted below it, at their mount paths,
byte for byte; a share the user no longer reads is not in it."""

from __future__ import annotations

import io
import os
import zipfile

import aiohttp
import pytest

from tests.metaserver.pages.conftest import api_call, put_file

MiB = 1024 * 1024


async def ok(servers, token: str, endpoint: str, body: dict) -> dict:
    status, answer = await api_call(servers, token, "POST", endpoint, body)
    assert status == 200, answer
    return answer


async def zip_of(servers, token: str, path: str) -> dict[str, bytes]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.get(servers.meta_url + "/zip" + path) as r:
            body = await r.read()
            assert r.status == 200, body[:300]
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture
async def tokens(web_servers) -> dict[str, str]:
    out = {}
    for name in ("alice", "bob", "carol"):
        await web_servers.add_user(name)
        out[name] = await web_servers.login(name)
    return out


async def test_a_home_zip_holds_the_mounted_shares(web_servers, tokens):
    alice, bob = tokens["alice"], tokens["bob"]
    big = os.urandom(4 * MiB + 33)  # two blocks of the share's namespace
    await put_file(web_servers, alice, "/notes.txt", b"alice's notes")
    await put_file(web_servers, alice, "/Team/plan.txt", b"the plan")
    await put_file(web_servers, alice, "/Team/deep/big.bin", big)
    await ok(web_servers, alice, "/v1/shares", {"path": "/Team"})  # her own share, mounted at /Team
    await put_file(web_servers, bob, "/Bobs/b.txt", b"from bob")
    await ok(web_servers, bob, "/v1/shares", {"path": "/Bobs"})
    inv = await ok(web_servers, bob, "/v1/shares/invite", {"path": "/Bobs", "user": "alice", "role": "viewer"})
    await ok(web_servers, alice, "/v1/files/mkdir", {"path": "/Incoming"})
    await ok(web_servers, alice, "/v1/shares/accept", {"id": inv["id"], "at": "/Incoming/From Bob"})

    files = await zip_of(web_servers, alice, "/")
    assert files["Tessera/notes.txt"] == b"alice's notes"
    assert files["Tessera/Team/plan.txt"] == b"the plan"
    assert files["Tessera/Team/deep/big.bin"] == big
    assert files["Tessera/Incoming/From Bob/b.txt"] == b"from bob"  # a viewer reads it too
    assert {"Tessera/Team/", "Tessera/Team/deep/", "Tessera/Incoming/", "Tessera/Incoming/From Bob/"} <= set(files)
    # a folder holding a mount, and a mount itself
    assert await zip_of(web_servers, alice, "/Incoming") == {"Incoming/From Bob/": b"", "Incoming/From Bob/b.txt": b"from bob"}
    assert (await zip_of(web_servers, alice, "/Incoming/From Bob")) == {"From Bob/b.txt": b"from bob"}
    # bob's own zip holds his share, not alice's
    bobs = await zip_of(web_servers, bob, "/")
    assert bobs == {"Tessera/Bobs/": b"", "Tessera/Bobs/b.txt": b"from bob"}

    await ok(web_servers, bob, "/v1/shares/remove", {"path": "/Bobs", "user": "alice"})
    files = await zip_of(web_servers, alice, "/")
    assert not any(name.startswith("Tessera/Incoming/From Bob") for name in files)
    assert files["Tessera/Team/deep/big.bin"] == big
