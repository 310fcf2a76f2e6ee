"""Blocks and bytes of shared folders: dedup stays inside a namespace, a share's bytes count
against its owner's quota, and a move between namespaces re-uses the blocks on the server."""

from __future__ import annotations

from tests.metaserver.conftest import blocks_of, mark_stored
from tests.metaserver.sharing.conftest import join
from tests.metaserver.sharing.test_shares import counters_exact
from tests.metaserver.uploads.test_sessions import upload


async def open_upload(api, path: str, data: bytes) -> dict:
    return await api.ok("POST", "/v1/uploads", {"path": path, "size": len(data), "blocks": blocks_of(data)})


async def shared_team(people, pool, bob_role: str = "editor") -> None:
    await people["alice"].ok("POST", "/v1/files/mkdir", {"path": "/Team"})
    await people["alice"].ok("POST", "/v1/shares", {"path": "/Team"})
    await join(people["alice"], people["bob"], "/Team", "bob", bob_role)


async def test_dedup_never_crosses_namespaces(people, pool):
    alice, bob = people["alice"], people["bob"]
    secret = b"alice's private bytes"
    await upload(alice, pool, "/private.txt", secret)
    await upload(bob, pool, "/mine.txt", secret)
    await shared_team(people, pool)
    # neither alice's home nor bob's lends a block to the share: bob learns nothing of either
    up = await open_upload(bob, "/Team/guess.txt", secret)
    assert up["needed"] == 1
    await mark_stored(pool, [up["blocks"][0]["block_id"]])
    await bob.ok("POST", f"/v1/uploads/{up['upload_id']}/commit", {})
    # inside the share, dedup works as in a home
    again = await open_upload(alice, "/Team/copy.txt", secret)
    assert again["needed"] == 0 and again["blocks"][0]["block_id"] == up["blocks"][0]["block_id"]
    # and the share's block lends nothing to a home either
    assert (await open_upload(people["carol"], "/c.txt", secret))["needed"] == 1


async def test_a_shares_bytes_count_against_its_owner(people, pool):
    alice, bob = people["alice"], people["bob"]
    await pool.execute("UPDATE users SET quota_bytes = 1000 WHERE name = 'alice'")
    await shared_team(people, pool)
    status, answer = await bob.call("POST", "/v1/uploads", {"path": "/Team/big", "size": 1500, "blocks": blocks_of(b"x" * 1500)})
    assert status == 507 and answer["error"]["code"] == "quota_exceeded"
    assert answer["error"]["details"]["quota_bytes"] == 1000
    await upload(bob, pool, "/own-big", b"y" * 1500)  # bob's own home: his quota (none)
    await upload(bob, pool, "/Team/small", b"z" * 600)
    assert (await alice.ok("GET", "/v1/usage"))["used_bytes"] == 600
    assert (await bob.ok("GET", "/v1/usage"))["used_bytes"] == 1500
    status, answer = await bob.call("POST", "/v1/uploads", {"path": "/Team/more", "size": 500, "blocks": blocks_of(b"w" * 500)})
    assert status == 507


async def test_a_move_between_namespaces_reuses_the_blocks(people, pool):
    alice, bob = people["alice"], people["bob"]
    await shared_team(people, pool)
    await upload(bob, pool, "/Notes/a.txt", b"note a")
    await upload(bob, pool, "/Notes/sub/b.txt", b"note b")
    before = {r["path"]: r["block_id"] for r in await pool.fetch(
        "SELECT v.path, vb.block_id FROM versions v JOIN version_blocks vb ON vb.version_id = v.id")}  # fmt: skip
    blocks_before = await pool.fetchval("SELECT count(*) FROM blocks")

    moved = await bob.ok("POST", "/v1/files/move", {"from": "/Notes", "to": "/Team/Notes"})
    assert moved["path"] == "/Team/Notes" and moved["kind"] == "folder"
    assert await pool.fetchval("SELECT count(*) FROM blocks") == blocks_before  # nothing uploaded, nothing copied
    seen = await alice.ok("GET", "/v1/files/blocks", path="/Team/Notes/sub/b.txt")
    assert seen["path"] == "/Team/Notes/sub/b.txt" and seen["blocks"][0]["block_id"] == before["/Notes/sub/b.txt"]
    assert [e["path"] for e in (await alice.ok("GET", "/v1/files/list", path="/Team/Notes"))["entries"]] == [
        "/Team/Notes/a.txt", "/Team/Notes/sub"
    ]  # fmt: skip
    # the source went to bob's trash (restorable there), and every counter is exact
    trash = await bob.ok("GET", "/v1/trash", path="/")
    assert [e["path"] for e in trash["entries"]] == ["/Notes"]
    ns = [r["id"] for r in await pool.fetch("SELECT id FROM namespaces ORDER BY id")]
    await counters_exact(pool, *ns)
    # back out again, by the owner, into her home: the same blocks still
    await alice.ok("POST", "/v1/files/move", {"from": "/Team/Notes/a.txt", "to": "/a.txt"})
    back = await alice.ok("GET", "/v1/files/blocks", path="/a.txt")
    assert back["blocks"][0]["block_id"] == before["/Notes/a.txt"]
    await counters_exact(pool, *ns)
    # purging every copy leaves the counters exact (each namespace frees only its own blocks)
    await alice.ok("POST", "/v1/files/delete", {"path": "/a.txt"})
    await alice.ok("POST", "/v1/trash/purge", {"all": True})
    await bob.ok("POST", "/v1/trash/purge", {"all": True})
    await alice.ok("POST", "/v1/trash/purge", {"path": "/Team"})
    await counters_exact(pool, *ns)


async def test_a_viewer_cannot_move_out_of_or_into_a_share(people, pool):
    bob = people["bob"]
    await upload(people["alice"], pool, "/Team/x.txt", b"x")
    await people["alice"].ok("POST", "/v1/shares", {"path": "/Team"})
    await join(people["alice"], bob, "/Team", "bob", "viewer")
    await upload(bob, pool, "/y.txt", b"y")
    assert await bob.error("POST", "/v1/files/move", {"from": "/Team/x.txt", "to": "/x.txt"}) == (403, "read_only")
    assert await bob.error("POST", "/v1/files/move", {"from": "/y.txt", "to": "/Team/y.txt"}) == (403, "read_only")
    alice = people["alice"]  # even the owner deletes or moves a share with `tessera share`, not as a folder
    assert await alice.error("POST", "/v1/files/delete", {"path": "/Team"}) == (400, "is_mount")
    assert await alice.error("POST", "/v1/files/move", {"from": "/Team", "to": "/Other"}) == (400, "is_mount")
    assert await alice.error("POST", "/v1/files/mkdir", {"path": "/team"}) == (409, "exists")
