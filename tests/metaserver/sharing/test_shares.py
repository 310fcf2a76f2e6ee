"""Sharing a folder and unsharing it (metaserver/sharing/shares.py, moves.py): no byte moves,
blocks and counters follow the files, mounts appear and go."""

from __future__ import annotations

from metaserver.tree import usage
from tests.metaserver.sharing.conftest import join
from tests.metaserver.uploads.test_sessions import upload


async def ns_ids(pool, name: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT n.id, n.kind FROM namespaces n JOIN users u ON u.id = n.owner_id WHERE u.name = $1 AND n.unshared_at IS NULL",
        name,
    )
    return {r["kind"]: r["id"] for r in rows}


async def counters_exact(pool, *ns: int) -> list[usage.Usage]:
    out = []
    async with pool.acquire() as conn:
        for n in ns:
            kept, counted = await usage.of_namespace(conn, n), await usage.recount(conn, n)
            assert kept == counted, n
            out.append(kept)
    return out


async def test_share_create_moves_the_tree_without_bytes(people, pool):
    alice = people["alice"]
    await upload(alice, pool, "/Team/plan.txt", b"the plan")
    await upload(alice, pool, "/Team/docs/a.txt", b"aaaa")
    await upload(alice, pool, "/Team/docs/a.txt", b"aaaa-2", mode="overwrite")
    await upload(alice, pool, "/home.txt", b"the plan")  # the same block as plan.txt
    blocks_before = await pool.fetchval("SELECT count(*) FROM blocks")
    home_before = (await counters_exact(pool, (await ns_ids(pool, "alice"))["home"]))[0]

    made = await alice.ok("POST", "/v1/shares", {"path": "/team"})
    assert made["path"] == "/Team"
    ns = await ns_ids(pool, "alice")
    assert made["ns_id"] == ns["shared"]
    # alice still sees everything where it was
    listing = await alice.ok("GET", "/v1/files/list", path="/")
    assert [(e["path"], e["kind"]) for e in listing["entries"]] == [("/home.txt", "file"), ("/Team", "folder")]
    assert listing["entries"][1]["shared"] is True
    inside = await alice.ok("GET", "/v1/files/list", path="/Team/docs")
    assert [e["path"] for e in inside["entries"]] == ["/Team/docs/a.txt"]
    meta = await alice.ok("GET", "/v1/files/meta", path="/team/docs/A.txt")
    assert meta["path"] == "/Team/docs/a.txt" and meta["size"] == 6
    # in the database: entries and versions moved, blocks re-scoped, none copied
    assert await pool.fetchval("SELECT count(*) FROM blocks") == blocks_before
    assert sorted(r["path"] for r in await pool.fetch("SELECT path FROM entries WHERE ns_id = $1", ns["shared"])) == [
        "/docs", "/docs/a.txt", "/plan.txt"
    ]  # fmt: skip
    assert await pool.fetchval("SELECT count(*) FROM versions WHERE ns_id = $1", ns["shared"]) == 3
    home, share = await counters_exact(pool, ns["home"], ns["shared"])
    assert home.current_bytes + share.current_bytes == home_before.current_bytes
    assert (share.current_bytes, share.version_bytes) == (8 + 6, 4)
    # the history of a moved file came with it
    revs = await alice.ok("GET", "/v1/files/revisions", path="/Team/docs/a.txt")
    assert [r["version"] for r in revs["revisions"]] == [2, 1]
    assert revs["path"] == revs["revisions"][0]["path"] == "/Team/docs/a.txt"


async def test_unshare_gives_the_owner_an_ordinary_folder_and_members_nothing(people, pool):
    alice, bob = people["alice"], people["bob"]
    await upload(alice, pool, "/Team/plan.txt", b"the plan")
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    assert await join(alice, bob, "/Team", "bob", "editor") == "/Team"
    await upload(bob, pool, "/Team/from-bob.txt", b"bob was here")
    await bob.ok("POST", "/v1/files/delete", {"path": "/Team/plan.txt"})

    assert (await alice.ok("POST", "/v1/shares/unshare", {"path": "/Team"}))["path"] == "/Team"
    listing = await alice.ok("GET", "/v1/files/list", path="/Team")
    assert [e["path"] for e in listing["entries"]] == ["/Team/from-bob.txt"]
    assert "shared" not in (await alice.ok("GET", "/v1/files/list", path="/"))["entries"][0]
    trash = await alice.ok("GET", "/v1/trash", path="/")
    assert [e["path"] for e in trash["entries"]] == ["/Team/plan.txt"]
    assert (await bob.ok("GET", "/v1/files/list", path="/"))["entries"] == []
    status, code = await bob.error("GET", "/v1/files/meta", path="/Team/from-bob.txt")
    assert (status, code) == (404, "not_found")
    assert (await bob.ok("GET", "/v1/shares"))["shares"] == []
    ns = await ns_ids(pool, "alice")
    await counters_exact(pool, ns["home"])
    assert await pool.fetchval("SELECT count(*) FROM blocks WHERE ns_id <> $1", ns["home"]) == await pool.fetchval(
        "SELECT count(*) FROM blocks b JOIN namespaces n ON n.id = b.ns_id WHERE n.owner_id <> (SELECT id FROM users WHERE name = 'alice')"
    )
