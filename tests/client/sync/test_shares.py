"""Shared folders in the sync daemon, end to end: real servers, several users' daemons.

A mounted share syncs like any folder for its editors; in a viewer's share local changes are
never uploaded (the user's bytes are kept beside the share, the server's version comes back);
a share that is removed, left or unshared disappears from the member's devices, and what they
had not uploaded yet is kept beside it.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from client.cli.sync_view import folder_status
from client.sync.status import read_status

from .share_harness import Team, files_under, idle
from .sync_harness import eventually, fleet_fixture, remote_snapshot, snapshot, tessera_hash, until  # noqa: F401


async def _shared(fleet, role: str):
    """alice (laptop) shares /Team, holding two files; bob (desk) joins as ``role``."""
    team = Team(fleet)
    a = await team.device("alice", "laptop")
    b = await team.device("bob", "desk")
    await a.write("Team/a.txt", b"alice's a")
    await a.write("Team/sub/b.txt", b"alice's b")
    await a.write("private.txt", b"alice only")
    await b.write("mine.txt", b"bob's own")
    await idle(a, b)
    await a.client.shares.create("/Team")
    assert await team.join(a.client, b.client, "bob", role) == "/Team"
    await team.converged(a, b)
    assert await b.read("Team/sub/b.txt") == b"alice's b"
    assert not b.path("private.txt").exists() and not a.path("mine.txt").exists()
    return team, a, b


async def test_an_editor_s_share_syncs_both_ways(fleet):
    team, a, b = await _shared(fleet, "editor")
    await b.write("Team/a.txt", b"bob's edit")
    await b.write("Team/new/c.txt", b"bob's new file")
    await asyncio.to_thread(os.rename, b.path("Team/sub/b.txt"), b.path("Team/b.txt"))
    await team.converged(a, b)
    assert await a.read("Team/a.txt") == b"bob's edit"
    assert await a.read("Team/new/c.txt") == b"bob's new file"
    assert await a.read("Team/b.txt") == b"alice's b"
    await a.write("Team/from-alice.txt", b"hello bob")
    await asyncio.to_thread(os.remove, a.path("Team/new/c.txt"))
    await team.converged(a, b)
    assert await b.read("Team/from-alice.txt") == b"hello bob"
    assert not b.path("Team/new/c.txt").exists()
    assert await b.read("mine.txt") == b"bob's own"


def _kept(root, share: str = "Team") -> dict[str, bytes]:
    """What the daemon kept beside the share: the files of its conflicted-copy folders."""
    out = {}
    for p in root.iterdir():
        if p.name.startswith(f"{share} (conflicted copy from "):
            out.update({f"{p.name}/{k}": v for k, v in files_under(p).items()})
    return out


async def test_a_viewer_s_edits_are_kept_beside_the_share_and_the_server_s_version_restored(fleet):
    team, a, b = await _shared(fleet, "viewer")
    await b.write("Team/a.txt", b"bob's edit")
    await b.write("Team/sub/new.txt", b"bob's new file")
    await asyncio.to_thread(os.remove, b.path("Team/sub/b.txt"))
    await until(lambda: len(_kept(b.root)) == 2, "bob's bytes to be kept beside the share")
    await team.converged(a, b)
    kept = _kept(b.root)
    assert sorted(kept.values()) == [b"bob's edit", b"bob's new file"]
    assert any(k.endswith("/a.txt") for k in kept) and any(k.endswith("/sub/new.txt") for k in kept)
    assert await b.read("Team/a.txt") == b"alice's a"  # the server's version is back
    assert await b.read("Team/sub/b.txt") == b"alice's b"  # the delete is undone
    assert not b.path("Team/sub/new.txt").exists()
    assert files_under(a.root / "Team") == {"a.txt": b"alice's a", "sub/b.txt": b"alice's b"}
    # the copies are bob's own files, uploaded to his home
    listing = [e.name async for e in b.client.list_entries("/")]
    assert any(n.startswith("Team (conflicted copy from desk ") for n in listing)
    # and the status says why (the status file is rewritten at most twice a second)
    docs = []

    async def noted() -> bool:
        docs.append(await asyncio.to_thread(read_status, b.daemon.files.status))
        return len(docs[-1]["notices"]) == 2

    await eventually(noted, "the status file to say what was kept")
    doc = docs[-1]
    notes = doc["notices"]
    assert {n["path"] for n in notes} == {"/Team/a.txt", "/Team/sub/new.txt"}
    assert all(n["reason"] == "read_only" and n["share"] == "/Team" for n in notes)
    shown = folder_status(doc, True)  # what `tessera status` prints
    assert "  kept beside shared folders:\n" in shown
    assert "/Team is shared with you read-only: your edit to a.txt was kept as /Team (conflicted copy from desk " in shown
    # a move inside a viewer's share is undone; alice's edits still come down
    await asyncio.to_thread(os.rename, b.path("Team/a.txt"), b.path("Team/moved.txt"))
    await a.write("Team/a.txt", b"alice's second a")
    await team.converged(a, b)
    assert await b.read("Team/a.txt") == b"alice's second a"
    assert not b.path("Team/moved.txt").exists()
    assert sorted(_kept(b.root).values()) == [b"bob's edit", b"bob's new file"]  # the move wrote no new bytes


async def test_a_member_made_a_viewer_keeps_the_edit_the_server_refuses(fleet):
    team, a, b = await _shared(fleet, "editor")
    await b.stop()
    await b.write("Team/a.txt", b"bob's offline edit")
    await a.client.shares.set_role("/Team", "bob", "viewer")
    b.start()
    await until(lambda: list(_kept(b.root).values()) == [b"bob's offline edit"], "the refused edit to be kept")
    await team.converged(a, b)
    assert await b.read("Team/a.txt") == b"alice's a"
    assert files_under(a.root / "Team") == {"a.txt": b"alice's a", "sub/b.txt": b"alice's b"}
    assert not b.daemon.status.errors


async def test_an_editor_s_pending_upload_refused_after_a_downgrade_is_kept(fleet):
    """The daemon runs and has not heard of the downgrade when it uploads: the 403 turns into the
    same handling (kept beside the share, no retry loop)."""
    team, a, b = await _shared(fleet, "editor")
    await a.client.shares.set_role("/Team", "bob", "viewer")
    await b.write("Team/sub/b.txt", b"bob's edit after the downgrade")
    await until(lambda: list(_kept(b.root).values()) == [b"bob's edit after the downgrade"], "the edit to be kept")
    await team.converged(a, b)
    assert await b.read("Team/sub/b.txt") == b"alice's b"
    assert not b.daemon.status.errors


async def _gone(team, a, b, how: str) -> None:
    if how == "remove":
        await a.client.shares.remove("/Team", "bob")
    elif how == "leave":
        await b.client.shares.leave("/Team")
    else:
        await a.client.shares.unshare("/Team")


@pytest.mark.parametrize("how", ["remove", "leave", "unshare"])
async def test_a_removed_share_disappears_and_unuploaded_edits_are_kept(fleet, how):
    team, a, b = await _shared(fleet, "editor")
    await b.stop()
    await b.write("Team/a.txt", b"bob's edit")
    await b.write("Team/sub/fresh.txt", b"bob's new file")
    await _gone(team, a, b, how)
    b.start()
    await until(lambda: not b.path("Team").exists(), "the share to disappear")
    await idle(a, b)
    assert sorted(_kept(b.root).values()) == [b"bob's edit", b"bob's new file"]
    assert await b.read("mine.txt") == b"bob's own"
    assert files_under(a.root / "Team") == {"a.txt": b"alice's a", "sub/b.txt": b"alice's b"}
    listing = {e.name async for e in b.client.list_entries("/")}
    assert "Team" not in listing and "mine.txt" in listing


async def test_edits_racing_a_removal_are_never_lost(fleet):
    """bob's daemon runs while he writes file after file into the share and alice removes him:
    every file he wrote is in alice's share (uploaded in time) or in his own tree (kept beside
    the share, or, for an upload that reached the server just after the removal, in a folder of
    his own home at the same path); his devices agree with the server."""
    team, a, b = await _shared(fleet, "editor")
    written: list[bytes] = []

    async def write_loop(stop: asyncio.Event) -> None:
        for i in range(400):
            if stop.is_set():
                return
            data = f"bob's file {i} ".encode() * 20
            await b.write(f"Team/race/f{i}.txt", data)
            written.append(data)
            await asyncio.sleep(0.03)

    stop = asyncio.Event()
    writer = asyncio.create_task(write_loop(stop))
    await asyncio.sleep(1.5)
    await a.client.shares.remove("/Team", "bob")
    await asyncio.sleep(1.0)
    stop.set()
    await writer
    await idle(a, b)

    async def agreed() -> bool:
        return b.idle and await snapshot(b.root) == await remote_snapshot(b.client)

    await eventually(agreed, "bob's folder to agree with his tree on the server")
    theirs = set((await remote_snapshot(a.client, "/Team")).values())
    mine = set((await snapshot(b.root)).values())
    lost = [d[:20] for d in written if tessera_hash(d) not in theirs | mine]
    assert not lost, lost
    assert any(tessera_hash(d) in theirs for d in written)  # the race had both sides
    assert not any((b.root / "Team").glob("a.txt"))  # the share's own files left bob's folder
    assert await b.read("mine.txt") == b"bob's own"

