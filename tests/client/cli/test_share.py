"""``tessera share``, run as the real CLI against the real servers by two users: create, invite,
ls, accept (with a clash), role, remove, leave, decline, unshare; --json and one-line errors."""

from __future__ import annotations

import pytest

from tests.client.conftest import PASSWORD, USER

from .cli_run import Tessera, login


@pytest.fixture
async def pair(servers, tmp_path) -> tuple[Tessera, Tessera]:
    await servers.add_user(USER, PASSWORD)
    await servers.add_user("bob", "pw-bob-long")
    alice = Tessera(tmp_path / "alice", tmp_path)
    await login(alice, servers)
    bob = Tessera(tmp_path / "bob", tmp_path)
    r = await bob("login", "--server", servers.meta_url, "--user", "bob", "--password-stdin", stdin=b"pw-bob-long\n")
    assert r.code == 0, r
    return alice, bob


async def ok(t: Tessera, *args: str):
    r = await t(*args, "--json")
    assert r.code == 0, r
    return r.json()


async def test_share_from_create_to_unshare(pair, tmp_path):
    alice, bob = pair
    (tmp_path / "plan.txt").write_text("the plan\n")
    assert (await alice("put", "plan.txt", "/Team/plan.txt")).code == 0
    assert (await bob("mkdir", "/Team")).code == 0  # bob's own /Team: his mount becomes "/Team (2)"

    assert await ok(alice, "share", "create", "/Team") == {"path": "/Team"}
    inv = await ok(alice, "share", "invite", "/Team", "bob", "--role", "viewer")
    assert (inv["invitee"], inv["role"], inv["state"]) == ("bob", "viewer", "pending")
    listed = await ok(bob, "share", "ls")
    assert [i["id"] for i in listed["invitations"]] == [inv["id"]] and listed["shares"] == []
    assert (await ok(bob, "share", "accept", str(inv["id"])))["path"] == "/Team (2)"
    r = await bob("share", "ls")
    assert r.code == 0 and "/Team (2)  (viewer; owner alice)" in r.out and "    bob  viewer" in r.out

    assert (await bob("get", "/Team (2)/plan.txt", str(tmp_path / "got.txt"))).code == 0
    assert (tmp_path / "got.txt").read_text() == "the plan\n"
    r = await bob("put", "plan.txt", "/Team (2)/mine.txt")
    r.assert_one_line_error("read_only")
    (await bob("share", "invite", "/Team (2)", "alice")).assert_one_line_error("not_owner")

    await ok(alice, "share", "role", "/Team", "bob", "editor")
    assert (await bob("put", "plan.txt", "/Team (2)/mine.txt")).code == 0
    await ok(bob, "share", "leave", "/Team (2)")
    (await bob("get", "/Team (2)/plan.txt", str(tmp_path / "x"))).assert_one_line_error("not_found")

    inv = await ok(alice, "share", "invite", "/Team", "bob")
    await ok(bob, "share", "decline", str(inv["id"]))
    (await bob("share", "accept", str(inv["id"]))).assert_one_line_error("not_found")
    inv = await ok(alice, "share", "invite", "/Team", "bob")
    assert (await ok(bob, "share", "accept", str(inv["id"]), "--at", "/Work/Team"))["path"] == "/Work/Team"
    await ok(alice, "share", "remove", "/Team", "bob")
    assert (await ok(bob, "share", "ls"))["shares"] == []

    assert await ok(alice, "share", "unshare", "/Team") == {"path": "/Team"}
    assert (await ok(alice, "share", "ls"))["shares"] == []
    r = await alice("ls", "/Team", "--json")
    assert r.code == 0 and {e["path"] for e in r.json()["entries"]} == {"/Team/plan.txt", "/Team/mine.txt"}
    (await alice("share", "unshare", "/Team")).assert_one_line_error("bad_path")
