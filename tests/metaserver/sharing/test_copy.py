"""``POST /v1/files/copy`` (metaserver/sharing/crossmove.py): a copy lists the same blocks, in one
namespace or between two, so no byte is sent again; reading the source and writing the
destination is checked like every route."""

from __future__ import annotations

from metaserver.tree import usage
from tests.metaserver.sharing.conftest import join
from tests.metaserver.uploads.test_sessions import upload


async def block_ids(pool, path: str, owner: str) -> list[str]:
    rows = await pool.fetch(
        """SELECT vb.block_id::text AS id FROM entries e JOIN version_blocks vb ON vb.version_id = e.rev
             JOIN namespaces n ON n.id = e.ns_id JOIN users u ON u.id = n.owner_id
            WHERE u.name = $2 AND e.path = $1 ORDER BY vb.idx""",
        path, owner,
    )  # fmt: skip
    return [r["id"] for r in rows]


async def home_usage(pool, name: str) -> usage.Usage:
    async with pool.acquire() as conn:
        ns = await conn.fetchval(
            "SELECT n.id FROM namespaces n JOIN users u ON u.id = n.owner_id WHERE u.name = $1 AND n.kind = 'home'", name
        )
        kept = await usage.of_namespace(conn, ns)
        assert kept == await usage.recount(conn, ns)
        return kept


async def test_a_copy_in_ones_own_folders_reuses_every_block(people, pool):
    alice = people["alice"]
    await upload(alice, pool, "/Docs/a.txt", b"alpha " * 1000)
    await upload(alice, pool, "/Docs/sub/b.txt", b"beta")
    await alice.ok("POST", "/v1/files/mkdir", {"path": "/Docs/empty"})
    blocks_before, before = await pool.fetchval("SELECT count(*) FROM blocks"), await home_usage(pool, "alice")

    made = await alice.ok("POST", "/v1/files/copy", {"from": "/Docs", "to": "/Docs copy"})
    assert (made["kind"], made["path"]) == ("folder", "/Docs copy")
    listing = await alice.ok("GET", "/v1/files/list", path="/Docs copy")
    assert [e["path"] for e in listing["entries"]] == ["/Docs copy/a.txt", "/Docs copy/empty", "/Docs copy/sub"]
    assert await block_ids(pool, "/Docs copy/sub/b.txt", "alice") == await block_ids(pool, "/Docs/sub/b.txt", "alice")
    one = await alice.ok("POST", "/v1/files/copy", {"from": "/Docs/a.txt", "to": "/a (copy).txt"})
    assert one["size"] == 6000 and one["content_hash"] == (await alice.ok("GET", "/v1/files/meta", path="/Docs/a.txt"))["content_hash"]
    # no block more, no stored byte more; the current files count twice
    assert await pool.fetchval("SELECT count(*) FROM blocks") == blocks_before
    after = await home_usage(pool, "alice")
    assert after.stored_bytes == before.stored_bytes and after.current_bytes == before.current_bytes * 2 + 6000
    # the copy is a file of its own: its history starts at it, and the original goes on alone
    revs = await alice.ok("GET", "/v1/files/revisions", path="/a (copy).txt")
    assert [r["version"] for r in revs["revisions"]] == [1]
    await upload(alice, pool, "/Docs/a.txt", b"changed", mode="overwrite")
    assert (await alice.ok("GET", "/v1/files/meta", path="/a (copy).txt"))["size"] == 6000


async def test_what_a_copy_refuses(people, pool):
    alice = people["alice"]
    await upload(alice, pool, "/Docs/a.txt", b"a")
    await upload(alice, pool, "/taken.txt", b"t")
    for body, expected in [
        ({"from": "/Docs", "to": "/Docs/inside"}, (400, "bad_path")),
        ({"from": "/Docs/a.txt", "to": "/taken.txt"}, (409, "exists")),
        ({"from": "/nothing", "to": "/x"}, (404, "not_found")),
        ({"from": "/Docs/a.txt", "to": "/"}, (400, "bad_path")),
        ({"from": "/Docs/a.txt", "to": "/taken.txt/under"}, (409, "not_a_folder")),
        ({"from": "/Docs/a.txt"}, (400, "bad_path")),
    ]:
        assert await alice.error("POST", "/v1/files/copy", body) == expected, body
    assert [e["path"] for e in (await alice.ok("GET", "/v1/files/list", path="/"))["entries"]] == ["/Docs", "/taken.txt"]


async def test_copies_in_and_out_of_shares_follow_the_roles(people, pool):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    await upload(alice, pool, "/Team/plan.txt", b"the plan " * 500)
    await upload(alice, pool, "/Team/sub/notes.txt", b"notes")
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    await join(alice, bob, "/Team", "bob", "viewer")
    await upload(bob, pool, "/mine.txt", b"bob's")

    # a viewer copies out of the share (reading is enough), a whole share too
    await bob.ok("POST", "/v1/files/copy", {"from": "/Team/plan.txt", "to": "/plan (mine).txt"})
    whole = await bob.ok("POST", "/v1/files/copy", {"from": "/Team", "to": "/Team archive"})
    assert whole["path"] == "/Team archive"
    listing = await bob.ok("GET", "/v1/files/list", path="/Team archive")
    assert [e["path"] for e in listing["entries"]] == ["/Team archive/plan.txt", "/Team archive/sub"]
    assert await block_ids(pool, "/plan (mine).txt", "bob") == await block_ids(pool, "/plan.txt", "alice")
    assert (await home_usage(pool, "bob")).stored_bytes == 4500 + 5 + 5  # the copies count in bob's own folders
    # ...but not into it
    assert await bob.error("POST", "/v1/files/copy", {"from": "/mine.txt", "to": "/Team/mine.txt"}) == (403, "read_only")
    await alice.ok("POST", "/v1/shares/role", {"path": "/Team", "user": "bob", "role": "editor"})
    await bob.ok("POST", "/v1/files/copy", {"from": "/mine.txt", "to": "/Team/from bob.txt"})
    assert (await alice.ok("GET", "/v1/files/meta", path="/Team/from bob.txt"))["size"] == 5
    # a stranger's path is their own tree: nothing of the share
    assert await carol.error("POST", "/v1/files/copy", {"from": "/Team/plan.txt", "to": "/stolen.txt"}) == (404, "not_found")
    # removed: at once
    await alice.ok("POST", "/v1/shares/remove", {"path": "/Team", "user": "bob"})
    assert await bob.error("POST", "/v1/files/copy", {"from": "/Team/plan.txt", "to": "/again.txt"}) == (404, "not_found")


async def test_a_copy_outlives_the_owner_of_what_it_was_copied_from(people, pool):
    """bob's copy of alice's shared file lists blocks of alice's namespace: deleting alice, with
    every block of hers, must leave bob's copy whole (the blocks it lists pass to bob's home)."""
    from metaserver.core.users import delete_user
    from metaserver.sharing.shares import dissolve_owned

    alice, bob = people["alice"], people["bob"]
    await upload(alice, pool, "/Team/plan.txt", b"the plan " * 500)
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    await join(alice, bob, "/Team", "bob", "editor")
    await bob.ok("POST", "/v1/files/copy", {"from": "/Team/plan.txt", "to": "/plan.txt"})
    await bob.ok("POST", "/v1/files/move", {"from": "/Team/plan.txt", "to": "/moved.txt"})
    expected = await block_ids(pool, "/plan.txt", "bob")
    async with pool.acquire() as conn, conn.transaction():
        await dissolve_owned(conn, await conn.fetchval("SELECT id FROM users WHERE name = 'alice'"))
        await delete_user(conn, "alice")
    assert await block_ids(pool, "/plan.txt", "bob") == expected == await block_ids(pool, "/moved.txt", "bob")
    owners = await pool.fetch("SELECT DISTINCT n.kind, u.name FROM blocks b JOIN namespaces n ON n.id = b.ns_id JOIN users u ON u.id = n.owner_id")
    assert [(r["kind"], r["name"]) for r in owners] == [("home", "bob")]
    assert (await home_usage(pool, "bob")).stored_bytes == 4500


async def test_a_copy_or_move_into_a_share_counts_against_its_owners_quota(people, pool):
    """bob's bytes copied or moved into alice's share are alice's to pay for: refused (507) when
    they do not fit her quota, nothing changed; within one namespace a copy adds no stored byte."""
    alice, bob = people["alice"], people["bob"]
    await upload(alice, pool, "/Team/plan.txt", b"p" * 1000)
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    await join(alice, bob, "/Team", "bob", "editor")
    await upload(bob, pool, "/big.bin", b"b" * 5000)
    await pool.execute("UPDATE users SET quota_bytes = 3000 WHERE name = 'alice'")

    for route in ("copy", "move"):
        status, answer = await bob.call("POST", f"/v1/files/{route}", {"from": "/big.bin", "to": "/Team/big.bin"})
        assert (status, answer["error"]["code"]) == (507, "quota_exceeded"), (route, answer)
        assert answer["error"]["details"]["needed_bytes"] == 5000
    assert [e["path"] for e in (await bob.ok("GET", "/v1/files/list", path="/Team"))["entries"]] == ["/Team/plan.txt"]
    assert (await bob.ok("GET", "/v1/files/meta", path="/big.bin"))["size"] == 5000  # still bob's
    # what fits goes; a copy inside the share adds no stored byte, so it goes even at the limit
    await upload(bob, pool, "/small.bin", b"s" * 1500)
    await bob.ok("POST", "/v1/files/copy", {"from": "/small.bin", "to": "/Team/small.bin"})
    await bob.ok("POST", "/v1/files/copy", {"from": "/Team/small.bin", "to": "/Team/small again.bin"})
    await bob.ok("POST", "/v1/files/copy", {"from": "/Team", "to": "/Team copy"})  # into bob's home: bob's quota
