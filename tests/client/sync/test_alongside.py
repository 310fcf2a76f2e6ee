"""Downloads that start while a round's downloads still run (client.sync.alongside), with real daemons."""

from __future__ import annotations

import asyncio

from client.sync.daemon import SyncDaemon

from .sync_harness import fleet_fixture, until  # noqa: F401

#: what the tests wait for at most while a download is held (the rest of the fleet keeps going)
HELD_WITHIN = 30.0


def _hold_download(daemon: SyncDaemon, path: str) -> tuple[asyncio.Event, asyncio.Event]:
    """Make ``daemon``'s download of ``path`` wait for the returned ``release`` (``entered`` once it waits).

    The real download runs after the release: only its start is held, so the round it belongs
    to stays open as long as the test wants.
    """
    executor = daemon._executor
    assert executor is not None
    entered, release = asyncio.Event(), asyncio.Event()
    real = executor._download

    async def held(action):
        if action.path == path:
            entered.set()
            await release.wait()
        await real(action)

    executor._download = held  # type: ignore[method-assign]
    return entered, release


async def test_a_file_committed_during_a_round_downloads_before_the_round_ends(fleet):
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await fleet.converged()
    assert b.daemon is not None
    entered, release = _hold_download(b.daemon, "/slow.txt")

    await a.write("slow.txt", b"held at the desktop")
    await asyncio.wait_for(entered.wait(), HELD_WITHIN)  # the desktop's round is now open
    await a.write("later/fast.txt", b"committed while the round runs")
    # without downloads beside the round, this waits for the held one
    await until(
        lambda: b.path("later/fast.txt").exists(), "the later file at the desktop", within=HELD_WITHIN
    )
    assert await b.read("later/fast.txt") == b"committed while the round runs"
    assert not b.path("slow.txt").exists()
    assert b.daemon._alongside is not None and b.daemon._alongside.started_beside >= 1

    release.set()
    snap = await fleet.converged()
    assert {"slow.txt", "later", "later/fast.txt"} <= set(snap)
    assert await b.read("slow.txt") == b"held at the desktop"


async def test_a_deletion_waits_for_the_round_and_a_held_path_is_not_downloaded_again(fleet):
    a = await fleet.add("laptop")
    b = await fleet.add("desktop")
    await a.write("old.txt", b"to be deleted")
    await fleet.converged()
    assert b.daemon is not None
    entered, release = _hold_download(b.daemon, "/slow.txt")
    downloads: list[str] = []
    held = b.daemon._executor._download  # type: ignore[union-attr]

    async def counting(action):
        downloads.append(action.path)
        await held(action)

    b.daemon._executor._download = counting  # type: ignore[union-attr,method-assign]

    await a.write("slow.txt", b"version 1")
    await asyncio.wait_for(entered.wait(), HELD_WITHIN)
    state = b.daemon.state
    held_rev = state.node("remote", "/slow.txt").rev  # the revision whose download is held
    await asyncio.to_thread(a.path("old.txt").unlink)  # a deletion: not run beside the round
    await a.write("slow.txt", b"version 2")  # a newer version of the held path: the next round's

    def pulled() -> bool:
        slow = state.node("remote", "/slow.txt")
        return state.node("remote", "/old.txt") is None and slow is not None and slow.rev > held_rev

    await until(pulled, "the desktop to pull the deletion and the new version", within=HELD_WITHIN)
    assert b.path("old.txt").exists()  # a plan with a deletion waits for the next round
    assert downloads.count("/slow.txt") == 1  # never a second download of a path in flight

    release.set()
    snap = await fleet.converged()
    assert "old.txt" not in snap
    assert await b.read("slow.txt") == b"version 2"
