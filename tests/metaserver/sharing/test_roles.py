"""The role matrix: every operation on a shared folder by its owner, an editor, a viewer, a
removed member and a stranger, through the real metadata server, against what each may do."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.metaserver.conftest import blocks_of
from tests.metaserver.sharing.conftest import join
from tests.metaserver.uploads.test_sessions import upload

ROLES = ("owner", "editor", "viewer", "removed", "stranger")
WHO = {"owner": "alice", "editor": "bob", "viewer": "carol", "removed": "dave", "stranger": "erin"}
OK = 200
# a removed member or a stranger has no /Team mount: the path names their own home tree, where
# nothing is (404); what they create lands in their own home, never in the share
EXPECTED = {
    #            owner  editor          viewer          removed         stranger
    "list": (OK, OK, OK, "not_found", "not_found"),
    "get": (OK, OK, OK, "not_found", "not_found"),
    "blocks": (OK, OK, OK, "not_found", "not_found"),
    "history": (OK, OK, OK, "not_found", "not_found"),
    "put": (OK, OK, "read_only", OK, OK),
    "mkdir": (OK, OK, "read_only", OK, OK),
    "move": (OK, OK, "read_only", "not_found", "not_found"),
    "delete": (OK, OK, "read_only", "not_found", "not_found"),
    "restore": (OK, OK, "read_only", "not_found", "not_found"),
    "invite": (OK, "not_owner", "not_owner", "bad_path", "bad_path"),
    "role": (OK, "not_owner", "not_owner", "bad_path", "bad_path"),
    "remove": (OK, "not_owner", "not_owner", "bad_path", "bad_path"),
}


def request_for(op: str, role: str) -> tuple[str, str, dict | None, dict]:
    """(method, endpoint, body, query) of ``op`` done by ``role`` (each on files of its own)."""
    data = f"new by {role}".encode()
    return {
        "list": ("GET", "/v1/files/list", None, {"path": "/Team"}),
        "get": ("GET", "/v1/files/meta", None, {"path": "/Team/read.txt"}),
        "blocks": ("GET", "/v1/files/blocks", None, {"path": "/Team/read.txt"}),
        "history": ("GET", "/v1/files/revisions", None, {"path": "/Team/read.txt"}),
        "put": ("POST", "/v1/uploads", {"path": f"/Team/new-{role}.txt", "size": len(data), "blocks": blocks_of(data)}, {}),
        "mkdir": ("POST", "/v1/files/mkdir", {"path": f"/Team/dir-{role}"}, {}),
        "move": ("POST", "/v1/files/move", {"from": f"/Team/m-{role}.txt", "to": f"/Team/moved-{role}.txt"}, {}),
        "delete": ("POST", "/v1/files/delete", {"path": f"/Team/d-{role}.txt"}, {}),
        "restore": ("POST", "/v1/trash/restore", {"path": f"/Team/t-{role}.txt"}, {}),
        "invite": ("POST", "/v1/shares/invite", {"path": "/Team", "user": f"guest-{role}", "role": "viewer"}, {}),
        "role": ("POST", "/v1/shares/role", {"path": "/Team", "user": "target", "role": "viewer"}, {}),
        "remove": ("POST", "/v1/shares/remove", {"path": "/Team", "user": "target"}, {}),
    }[op]


@pytest.fixture
async def team(people, pool):
    """/Team shared by alice: bob editor, carol viewer, dave joined and removed, erin a stranger;
    'target' an editor (role and remove act on them), guest-<role> users to invite."""
    from metaserver.core.users import create_user

    alice = people["alice"]
    await upload(alice, pool, "/Team/read.txt", b"read me")
    for role in ROLES:
        for name in (f"m-{role}.txt", f"d-{role}.txt", f"t-{role}.txt"):
            await upload(alice, pool, f"/Team/{name}", name.encode())
    async with pool.acquire() as conn:
        for name in ["target", *(f"guest-{r}" for r in ROLES)]:
            await create_user(conn, name, "pw-long-enough")
    await alice.ok("POST", "/v1/shares", {"path": "/Team"})
    for role in ROLES:  # in the share's trash
        await alice.ok("POST", "/v1/files/delete", {"path": f"/Team/t-{role}.txt"})
    await join(alice, people["bob"], "/Team", "bob", "editor")
    await join(alice, people["carol"], "/Team", "carol", "viewer")
    await join(alice, people["dave"], "/Team", "dave", "editor")
    login = await alice.ok("POST", "/v1/auth/login", {"user": "target", "password": "pw-long-enough"})
    await join(alice, replace(alice, token=login["token"]), "/Team", "target", "editor")
    await alice.ok("POST", "/v1/shares/remove", {"path": "/Team", "user": "dave"})


async def share_tree(pool) -> set[str]:
    rows = await pool.fetch("SELECT e.path FROM entries e JOIN namespaces n ON n.id = e.ns_id WHERE n.kind = 'shared'")
    return {r["path"] for r in rows}


@pytest.mark.parametrize("op", list(EXPECTED))
async def test_role_matrix(op, people, team, pool):
    for i, role in enumerate(ROLES):
        if op in ("role", "remove") and role == "owner":
            continue  # done last: it changes the membership the others are checked against
        before = await share_tree(pool)
        method, endpoint, body, query = request_for(op, role)
        status, answer = await people[WHO[role]].call(method, endpoint, body, **query)
        want = EXPECTED[op][i]
        if want == OK:
            assert status == 200, (op, role, answer)
        else:
            assert status in (400, 403, 404) and answer["error"]["code"] == want, (op, role, status, answer)
            assert await share_tree(pool) == before, (op, role)  # nothing changed in the share
        if role in ("removed", "stranger"):
            assert await share_tree(pool) == before, (op, role)  # never in the share
    if op in ("role", "remove"):
        method, endpoint, body, query = request_for(op, "owner")
        await people["alice"].ok(method, endpoint, body, **query)
