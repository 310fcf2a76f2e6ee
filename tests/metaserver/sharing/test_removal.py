"""A member removed (or made a viewer) loses the right at once, through both real servers: the
put grant they still hold is refused by the block server, their held long-poll wakes, their
commit is refused; a race of removal and unshare against a member's writes loses no byte."""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp
import pytest

from protocol import codec
from tests.metaserver.conftest import Api, blocks_of
from tests.metaserver.sharing.conftest import join


@pytest.fixture
async def two(servers):
    """alice and bob logged in against both servers; /Team shared by alice, bob an editor."""
    async with aiohttp.ClientSession() as session:
        out = {}
        for name in ("alice", "bob"):
            await servers.add_user(name, f"pw-{name}-long")
            out[name] = Api(session, servers.meta_url, await servers.login(name, f"pw-{name}-long"))
        await out["alice"].ok("POST", "/v1/files/mkdir", {"path": "/Team"})
        await out["alice"].ok("POST", "/v1/shares", {"path": "/Team"})
        await join(out["alice"], out["bob"], "/Team", "bob", "editor")
        yield out


async def put_block(servers, api: Api, block: dict, data: bytes) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {api.token}", "X-Tessera-Grant": block["grant"], "Accept": codec.MSGPACK}
    async with api.session.put(f"{servers.block_url}/v1/blocks/{block['block_id']}", data=data, headers=headers) as r:
        return r.status, codec.unpack(await r.read())


async def open_upload(api: Api, path: str, data: bytes) -> dict:
    return await api.ok("POST", "/v1/uploads", {"path": path, "size": len(data), "blocks": blocks_of(data)})


@pytest.mark.parametrize("change", ["remove", "viewer"])
async def test_removal_refuses_the_grant_and_wakes_the_poll(servers, two, change):
    alice, bob = two["alice"], two["bob"]
    data, ready = b"bob's draft " * 100, b"bob's final " * 100
    up = await open_upload(bob, "/Team/draft.txt", data)  # its put grant outstanding
    done = await open_upload(bob, "/Team/final.txt", ready)  # its block stored, not committed yet
    assert (await put_block(servers, bob, done["blocks"][0], ready))[0] == 200
    cursor = (await bob.ok("GET", "/v1/changes/latest_cursor"))["cursor"]
    poll = asyncio.create_task(bob.ok("GET", "/v1/changes/longpoll", cursor=cursor, timeout=60))
    await asyncio.sleep(0.3)
    assert not poll.done()

    if change == "remove":
        await alice.ok("POST", "/v1/shares/remove", {"path": "/Team", "user": "bob"})
        async with asyncio.timeout(5):
            assert await poll == {"changes": True}  # the mount went from bob's tree: a change
    else:
        await alice.ok("POST", "/v1/shares/role", {"path": "/Team", "user": "bob", "role": "viewer"})
        poll.cancel()
    status, answer = await put_block(servers, bob, up["blocks"][0], data)
    assert status == 403 and answer["error"]["code"] == ("not_member" if change == "remove" else "read_only")
    status, answer = await bob.call("POST", f"/v1/uploads/{done['upload_id']}/commit", {})
    assert status == 403 and answer["error"]["code"] == ("not_member" if change == "remove" else "read_only")
    listing = await alice.ok("GET", "/v1/files/list", path="/Team")
    assert listing["entries"] == []  # nothing of bob's landed
    if change == "remove":
        page = await bob.ok("GET", "/v1/changes", cursor=cursor)
        assert [(e["kind"], e["path"]) for e in page["entries"]] == [("deleted", "/Team")]


async def _write_loop(servers, bob: Api, stop: asyncio.Event, written: dict[str, bytes]) -> None:
    """bob writes file after file into /Team until told to stop; what committed is in ``written``
    (and ``written[""]`` lists every status a request of his was answered: never a 500)."""
    statuses = written.setdefault("", set())  # type: ignore[arg-type]
    for i in range(1000):
        if stop.is_set():
            return
        data = f"file {i} ".encode() * 50
        path = f"/Team/f{i}.txt"
        status, up = await bob.call("POST", "/v1/uploads", {"path": path, "size": len(data), "blocks": blocks_of(data)})
        statuses.add(status)
        if status != 200:
            continue
        for b in up["blocks"]:
            if b["state"] == "needed":
                await put_block(servers, bob, b, data)
        status, meta = await bob.call("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
        statuses.add(status)
        if status == 200:
            written[meta["path"]] = data


@pytest.mark.parametrize("end", ["remove", "unshare"])
async def test_removal_and_unshare_racing_writes_lose_no_committed_byte(servers, two, end):
    alice, bob = two["alice"], two["bob"]
    stop, written = asyncio.Event(), {}
    writer = asyncio.create_task(_write_loop(servers, bob, stop, written))
    await asyncio.sleep(1.0)
    if end == "remove":
        await alice.ok("POST", "/v1/shares/remove", {"path": "/Team", "user": "bob"})
    else:
        await alice.ok("POST", "/v1/shares/unshare", {"path": "/Team"})
    await asyncio.sleep(0.3)
    stop.set()
    await writer
    statuses = written.pop("")
    # refused (403), blocks refused so not stored (409), expired by the unshare (410), a deadlock's
    # victim (503): answers the client acts on, never a 500
    assert all(s < 500 or s == 503 for s in statuses), statuses
    # every commit bob was told succeeded is in alice's folder (a share still, or her own again)
    # if it came before the end, else in bob's own home tree (where /Team names his own folder)
    assert written
    theirs = await _files(alice, "/Team")
    mine = await _files(bob, "/Team")
    assert not set(theirs) & set(mine) and sorted([*theirs, *mine]) == sorted(written)
    assert theirs and mine  # the race had both sides
    for path, data in written.items():
        assert (theirs.get(path) or mine.get(path)) == hashlib.sha256(hashlib.sha256(data).digest()).hexdigest()
    assert all(not e.get("shared") for e in (await bob.ok("GET", "/v1/files/list", path="/"))["entries"])


async def _files(api: Api, folder: str) -> dict[str, str]:
    status, listing = await api.call("GET", "/v1/files/list", path=folder, limit=2000)
    return {e["path"]: e["content_hash"] for e in listing["entries"]} if status == 200 else {}
