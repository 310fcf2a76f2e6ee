"""``tessera trash``, ``tessera usage``, ``whoami``'s usage and ``history`` of a folder, run as the
real CLI against the real servers."""

from __future__ import annotations

import asyncio
import os
import pty

import pytest

from tests.client.conftest import PASSWORD, USER

from .cli_run import Run, Tessera, login


@pytest.fixture
async def tessera(servers, tmp_path) -> Tessera:
    await servers.add_user(USER, PASSWORD)
    work = tmp_path / "work"
    work.mkdir()
    t = Tessera(tmp_path / "config", work)
    await login(t, servers)
    return t


async def put(tessera: Tessera, remote: str, text: str) -> dict:
    name = "src-" + remote.strip("/").replace("/", "_")
    (tessera.cwd / name).write_text(text)
    r = await tessera("put", name, remote, "--json")
    assert r.code == 0, r
    return r.json()


async def on_a_terminal(tessera: Tessera, typed: str, *args: str) -> Run:
    """Run ``tessera ARGS`` with a terminal as its standard input, typing ``typed`` into it."""
    master, slave = pty.openpty()
    try:
        proc = await tessera.start(*args, stdin=slave)
        os.close(slave)
        slave = -1
        os.write(master, typed.encode())
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def test_trash_ls_restore_and_purge(tessera):
    r = await tessera("trash", "ls")
    assert r.code == 0 and r.out.strip() == "Nothing at or below / is in the trash.", r
    await put(tessera, "/Projects/plan.txt", "the plan\n")
    await put(tessera, "/Projects/src/main.py", "print('hi')\n")
    await put(tessera, "/notes.txt", "notes\n")
    assert (await tessera("rm", "/Projects")).code == 0
    assert (await tessera("rm", "/notes.txt")).code == 0

    r = await tessera("trash", "ls")
    assert r.code == 0, r
    lines = r.out.strip().splitlines()
    assert lines[0].endswith("/notes.txt") and "cli-test (alice)" in lines[0] and "6 B" in lines[0]
    assert lines[1].endswith("/Projects/") and "2 files, 21 B" in lines[1]
    r = await tessera("trash", "ls", "/Projects", "--json")
    assert r.code == 0, r
    got = r.json()
    assert [(e["path"], e["item"]) for e in got["entries"]] == [
        ("/Projects", True), ("/Projects/plan.txt", False), ("/Projects/src", False)
    ]  # fmt: skip
    assert all(e["device"] == "cli-test" and e["user"] == USER and e["deleted"] > 0 for e in got["entries"])
    assert [(e.get("size"), e.get("files"), e.get("bytes")) for e in got["entries"]] == [
        (None, 2, 21), (9, None, None), (None, None, None)
    ]  # a file its size, an item what it holds
    r = await tessera("history", "/Projects")  # a deleted folder's history: what was deleted in it
    assert r.code == 0 and r.out.startswith("/Projects is a folder; deleted in it") and "plan.txt" in r.out, r

    r = await tessera("trash", "restore", "/Projects")
    assert r.code == 0 and r.out.strip() == "Restored folder /Projects", r
    r = await tessera("ls", "/Projects/src")
    assert r.code == 0 and r.out.split() == ["main.py"], r
    r = await tessera("history", "/Projects")  # a live folder: nothing deleted in it yet
    assert r.code == 0 and r.out.strip() == "/Projects is a folder; nothing deleted in it is in the trash.", r
    assert (await tessera("rm", "/Projects/plan.txt")).code == 0
    r = await tessera("history", "/Projects", "--json")
    assert r.code == 0 and [e["path"] for e in r.json()["deleted"]] == ["/Projects/plan.txt"], r
    await put(tessera, "/notes.txt", "new notes\n")
    r = await tessera("trash", "restore", "/notes.txt", "--json")
    assert r.code == 0 and r.json()["path"].startswith("/notes (deleted ") and r.json()["size"] == 6, r
    (await tessera("trash", "restore", "/notes.txt")).assert_one_line_error("not_found")

    await tessera("rm", "/Projects/src")
    r = await tessera("trash", "purge", "/Projects/src")  # stdin is not a terminal: --yes is needed
    assert r.code == 2 and "--yes" in r.err and "Traceback" not in r.err, r
    r = await on_a_terminal(tessera, "n\n", "trash", "purge", "/Projects/src")
    assert r.code == 1 and "for good?" in r.err and "Nothing was purged." in r.err, r
    assert "/Projects/src" in (await tessera("trash", "ls")).out
    r = await on_a_terminal(tessera, "y\n", "trash", "purge", "/Projects/src")
    assert r.code == 0 and r.out.strip() == "Purged 1 file; 12 B freed", r
    (await tessera("trash", "purge", "/Projects/src", "--yes")).assert_one_line_error("not_found")
    await tessera("rm", "/Projects")
    r = await tessera("trash", "purge", "--all", "--yes", "--json")
    assert r.code == 0 and r.json() == {"files": 1, "freed_bytes": 9, "done": True}, r
    r = await tessera("trash", "purge", "/x", "--all")
    assert r.code == 2 and "not both" in r.err


async def test_usage_and_whoami(tessera, servers):
    await put(tessera, "/a.txt", "aaaa")
    await put(tessera, "/a.txt", "bb")
    await put(tessera, "/c.txt", "ccc")
    await tessera("rm", "/c.txt")
    r = await tessera("usage", "--json")
    assert r.code == 0, r
    got = r.json()
    assert (got["current_bytes"], got["version_bytes"], got["trash_bytes"], got["used_bytes"]) == (2, 4, 3, 9)
    assert got["retention_days"] == 30 and got["quota_bytes"] is None and got["user"] == USER
    r = await tessera("usage")
    assert r.code == 0, r
    words = " ".join(r.out.split())
    assert "current files 2 B older versions 4 B trash 3 B stored 9 B, no quota" in words, r.out
    assert "kept 30 days" in words
    r = await tessera("whoami")
    assert r.code == 0 and "(current files 2 B, older versions 4 B, trash 3 B)" in r.out, r
    r = await tessera("whoami", "--json")
    assert r.json()["trash_bytes"] == 3 and r.json()["used_bytes"] == 9
