"""``tessera-server user ...``: the real command in a subprocess against the test's database,
with both servers running, so that what it does is seen by the servers at once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path

import aiohttp
import pytest

from blockserver.gc import GcOptions, collect
from blockserver.stores.local import LocalStore
from client import TesseraClient
from protocol import codec
from protocol.errors import AccountDisabled, SignedOut
from tests.client.conftest import FAST_RETRY


async def server_cmd(servers, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": servers.config.database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metaserver.cli", *args, "--data-dir", str(servers.config.data_dir),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin), 90)
    return proc.returncode, out.decode(), err.decode()


def _file(tmp_path: Path, name: str, size: int, seed: int) -> Path:
    p = tmp_path / name
    p.write_bytes(random.Random(seed).randbytes(size))
    return p


async def test_user_list_is_a_table_and_json(servers):
    code, out, err = await server_cmd(servers, "user", "list")
    assert code == 0 and out.strip() == "no users yet (tessera-server user add NAME)", err
    await servers.add_user("alice", "secret-pw")
    await servers.add_user("bob", "secret-pw", quota=10 * 1024**3)
    await servers.login("alice", "secret-pw")
    await servers.login("alice", "secret-pw", device="phone")
    assert (await server_cmd(servers, "user", "disable", "bob"))[0] == 0
    code, out, err = await server_cmd(servers, "user", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME", "CREATED", "QUOTA", "USED", "CURRENT", "VERSIONS", "TRASH", "RETENTION", "DEVICES", "DISABLED"
    ]  # fmt: skip
    alice, bob = (line.split() for line in lines[1:])
    zero = ["0", "B"] * 4  # used, current, versions, trash
    assert alice[0] == "alice" and alice[3:] == ["unlimited", *zero, "default", "2", "no"]
    assert bob[0] == "bob" and bob[3:] == ["10.0", "GiB", *zero, "default", "0", "yes"]
    assert "b'" not in out and "\\x" not in out
    code, out, err = await server_cmd(servers, "user", "list", "--json")
    assert code == 0, err
    users = json.loads(out)["users"]
    assert [(u["name"], u["quota_bytes"], u["used_bytes"], u["devices"], u["disabled"]) for u in users] == [
        ("alice", None, 0, 2, False),
        ("bob", 10 * 1024**3, 0, 0, True),
    ]
    assert all(isinstance(u["created"], float) for u in users)


async def test_disable_stops_the_users_tokens_on_both_servers_at_once(servers, tmp_path):
    await servers.add_user("alice", "secret-pw")
    token = await servers.login("alice", "secret-pw")
    src = _file(tmp_path, "a.bin", 300_000, 1)
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        await client.upload_file(src, "/a.bin")
        page = await client.file_blocks("/a.bin")
        block = page.blocks[0]
        code, out, err = await server_cmd(servers, "user", "disable", "alice")
        assert code == 0 and "disabled alice" in out, err
        with pytest.raises(SignedOut, match="disabled"):
            await client.account()
        # the block server: a grant that was good a moment ago, with the token of a disabled user
        with pytest.raises(SignedOut):
            await client.get_block(page.block_servers, 0, block.block_id, block.grant, block.size)
    async with aiohttp.ClientSession() as s:
        body = {"user": "alice", "password": "secret-pw", "device": "d"}
        async with s.post(servers.meta_url + "/v1/auth/login", json=body, headers={"Accept": codec.JSON}) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == AccountDisabled.code
    code, out, err = await server_cmd(servers, "user", "enable", "alice")
    assert code == 0 and "enabled alice" in out, err
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        assert (await client.account()).user == "alice"


async def test_passwd_and_revoke_tokens(servers):
    await servers.add_user("alice", "secret-pw")
    token = await servers.login("alice", "secret-pw")
    code, _, err = await server_cmd(servers, "user", "passwd", "alice", "--password-stdin", stdin=b"short\n")
    assert code == 2 and "at least 8 characters" in err and "Traceback" not in err
    code, out, err = await server_cmd(servers, "user", "passwd", "alice", "--password-stdin", stdin=b"new-secret\n")
    assert code == 0 and out.strip() == "password of alice changed", err
    await servers.login("alice", "new-secret")
    code, out, err = await server_cmd(servers, "user", "revoke-tokens", "alice")
    assert code == 0 and out.strip() == "signed out 2 device(s) of alice", err
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as client:
        with pytest.raises(SignedOut, match="operator"):
            await client.account()
    code, _, err = await server_cmd(servers, "user", "disable", "nobody")
    assert code != 0 and "no user 'nobody'" in err and "Traceback" not in err


async def test_delete_removes_the_user_and_gc_reclaims_their_blocks(servers, tmp_path):
    await servers.add_user("alice", "secret-pw")
    await servers.add_user("bob", "secret-pw")
    alice_token = await servers.login("alice", "secret-pw")
    bob_token = await servers.login("bob", "secret-pw")
    async with TesseraClient(servers.meta_url, alice_token, retry=FAST_RETRY) as client:
        await client.upload_file(_file(tmp_path, "a1", 5 * 1024 * 1024, 1), "/one.bin")
        await client.upload_file(_file(tmp_path, "a2", 1000, 2), "/two.bin")
        await client.upload_file(_file(tmp_path, "a3", 1000, 3), "/two.bin")  # a second version
    bob_src = _file(tmp_path, "b1", 2_000_000, 4)
    async with TesseraClient(servers.meta_url, bob_token, retry=FAST_RETRY) as client:
        await client.upload_file(bob_src, "/bob.bin")
    alice_blocks = set(await servers.pool.fetchval(
        "SELECT array(SELECT b.id FROM blocks b JOIN users u ON u.id = b.owner_id WHERE u.name = 'alice')"))  # fmt: skip
    assert len(alice_blocks) == 4
    store = LocalStore(servers.config.blocks_dir)
    async with store:
        before = {b async for b in store.list_ids()}
    assert alice_blocks < before

    code, _, err = await server_cmd(servers, "user", "delete", "alice", stdin=b"not-alice\n")
    assert code == 2 and "not confirmed" in err
    code, out, err = await server_cmd(servers, "user", "delete", "alice", stdin=b"alice\n")
    assert code == 0, err
    assert "deleted alice: 3 file version(s), 1 device(s); 4 block(s) are left to garbage collection" in out
    for table in ("users", "tokens", "namespaces", "upload_sessions"):
        assert await servers.pool.fetchval(f"SELECT count(*) FROM {table}") == 1, table
    assert await servers.pool.fetchval("SELECT count(*) FROM versions") == 1
    async with TesseraClient(servers.meta_url, alice_token, retry=FAST_RETRY) as client:
        with pytest.raises(SignedOut):
            await client.account()

    code, out, err = await server_cmd(servers, "gc", "--grace", "0")
    assert code == 0, err
    async with store:
        after = {b async for b in store.list_ids()}
    assert after == before - alice_blocks
    assert not any(p.is_file() for b in alice_blocks for p in servers.config.blocks_dir.rglob(f"*{b}*"))
    async with TesseraClient(servers.meta_url, bob_token, retry=FAST_RETRY) as client:
        await client.download_file("/bob.bin", tmp_path / "bob-out")
    assert (tmp_path / "bob-out").read_bytes() == bob_src.read_bytes()


async def test_gc_after_a_delete_spares_another_users_concurrent_uploads(servers, tmp_path):
    """Deleting a user and collecting with grace 0 while another user uploads and commits:
    every file of the other user is whole afterwards."""
    await servers.add_user("alice", "secret-pw")
    await servers.add_user("bob", "secret-pw")
    alice_token = await servers.login("alice", "secret-pw")
    bob_token = await servers.login("bob", "secret-pw")
    async with TesseraClient(servers.meta_url, alice_token, retry=FAST_RETRY) as client:
        for i in range(3):
            await client.upload_file(_file(tmp_path, f"a{i}", 300_000 + i, 10 + i), f"/a{i}.bin")
    sources = [_file(tmp_path, f"b{i}", 4 * 1024 * 1024 + 1000 * i, 20 + i) for i in range(6)]
    store = LocalStore(servers.config.blocks_dir)

    async def bob_uploads() -> None:
        async with TesseraClient(servers.meta_url, bob_token, retry=FAST_RETRY) as client:
            for i, src in enumerate(sources):
                await client.upload_file(src, f"/b{i}.bin")

    async def delete_and_collect() -> None:
        code, _, err = await server_cmd(servers, "user", "delete", "alice", "--yes")
        assert code == 0, err
        async with store:
            for _ in range(6):
                await collect(servers.pool, store, GcOptions(grace=0))
                await asyncio.sleep(0.05)

    await asyncio.gather(bob_uploads(), delete_and_collect())
    async with store:
        await collect(servers.pool, store, GcOptions(grace=0))
    async with TesseraClient(servers.meta_url, bob_token, retry=FAST_RETRY) as client:
        for i, src in enumerate(sources):
            out = tmp_path / f"out{i}"
            await client.download_file(f"/b{i}.bin", out)
            assert out.read_bytes() == src.read_bytes()


async def test_deleting_a_share_owner_takes_the_share_out_of_members_trees(servers):
    """The members' devices learn it from their own feed (a deletion at the mount path, their
    polls woken), as after an unshare; their own files stay."""
    from tests.metaserver.conftest import Api
    from tests.metaserver.sharing.conftest import join
    from tests.metaserver.sharing.test_feed import all_changes

    async with aiohttp.ClientSession() as session:
        api = {}
        for name in ("alice", "bob", "carol"):
            await servers.add_user(name, f"pw-{name}-long")
            api[name] = Api(session, servers.meta_url, await servers.login(name, f"pw-{name}-long"))
        alice, bob, carol = api["alice"], api["bob"], api["carol"]
        await alice.ok("POST", "/v1/files/mkdir", {"path": "/Team/plans"})
        await alice.ok("POST", "/v1/shares", {"path": "/Team"})
        await join(alice, bob, "/Team", "bob", "editor", at="/From Alice")
        await alice.ok("POST", "/v1/shares/invite", {"path": "/Team", "user": "carol", "role": "viewer"})
        await bob.ok("POST", "/v1/files/mkdir", {"path": "/Mine"})
        _, cursor = await all_changes(bob)
        poll = asyncio.create_task(bob.ok("GET", "/v1/changes/longpoll", cursor=cursor, timeout=60))

        code, out, err = await server_cmd(servers, "user", "delete", "alice", "--yes")
        assert code == 0, err
        assert "1 member(s) of their shared folders lost them" in out
        async with asyncio.timeout(10):
            assert await poll == {"changes": True}
        changes, _ = await all_changes(bob, cursor)
        assert changes == [("deleted", "/From Alice")]
        assert [e["path"] for e in (await bob.ok("GET", "/v1/files/list", path="/"))["entries"]] == ["/Mine"]
        assert (await bob.ok("GET", "/v1/shares"))["shares"] == []
        assert (await carol.ok("GET", "/v1/shares"))["invitations"] == []
