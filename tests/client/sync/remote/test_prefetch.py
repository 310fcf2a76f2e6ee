"""Streaming sync: a device fetches another device's large file while it is still being uploaded.

Real servers (the block server's puts held by a gate, so an upload can be
caught half way), real daemons in-process, real folders.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from client.sync.remote.prefetch import PREFETCH_DIR
from client.sync.remote.staging import POLL_INTERVAL, wait_before_next_look
from client.transfer.client import TesseraClient
from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import PASSWORD, USER, write_random
from tests.client.sync.sync_harness import TEST_SETTINGS, Fleet, device_logs, eventually, snapshot, until

#: three blocks, the last one short
SIZE = 2 * BLOCK_SIZE + 1000


@pytest.fixture
async def gated_fleet(gated, tmp_path) -> AsyncIterator[Fleet]:
    await gated.servers.add_user(USER, PASSWORD)
    f = Fleet(gated.servers, tmp_path)
    with device_logs():
        try:
            yield f
        finally:
            await f.close()


def staging_files(device) -> list[Path]:
    folder = device.daemon.files.state_dir / PREFETCH_DIR
    return sorted(folder.iterdir()) if folder.is_dir() else []


def place_random(path: Path, size: int, seed: int) -> None:
    """Random bytes written beside the synced folder, then renamed into it: the daemon never sees
    the file half written (and so never uploads a part of it, using up the gate's admissions)."""
    outside = path.parent.parent / f"{path.name}.writing"
    write_random(outside, size, seed)
    os.replace(outside, path)


async def no_staging_files_left(device) -> None:
    """Wait until the device's staging folder is empty (a dropped part leaves the prefetcher's
    records before its file is removed, in a worker thread)."""

    async def empty() -> bool:
        return await asyncio.to_thread(staging_files, device) == []

    await eventually(empty, "the staging files to be removed", within=30)


async def half_uploaded(gated, fleet: Fleet, *, b_settings=TEST_SETTINGS):
    """A uploads a three-block file whose third block the gate holds; B has staged the other two."""
    a = await fleet.add("laptop")
    b = await fleet.add("desktop", settings=b_settings)
    await fleet.converged()
    gated.gate.allow = 2
    await asyncio.to_thread(place_random, a.path("big.bin"), SIZE, 5)
    await until(lambda: len(b.daemon.prefetcher.staged().get("/big.bin", ())) == 2, "B to stage two blocks")
    # nothing of it is visible in B's folder meanwhile
    assert await snapshot(b.root) == {}
    return a, b


async def test_blocks_are_fetched_before_the_commit_and_taken_over(gated, gated_fleet, caplog):
    caplog.set_level(logging.INFO, logger="client")
    a, b = await half_uploaded(gated, gated_fleet)
    [staged] = await asyncio.to_thread(staging_files, b)
    assert staged.stat().st_size == SIZE
    gated.gate.release(reject=False)
    await gated_fleet.converged()
    assert await b.read("big.bin") == await a.read("big.bin")
    # the two blocks staged while the third was held (and maybe the third, fetched before B heard
    # of the commit) were not downloaded again
    fetched = re.search(r"/big.bin: (\d) of 3 blocks were fetched before the commit", caplog.text)
    assert fetched is not None and int(fetched.group(1)) >= 2
    assert (
        f"downloaded /big.bin (rev 1; {fetched.group(1)} of 3 blocks copied from local files)" in caplog.text
    )
    assert await asyncio.to_thread(staging_files, b) == []  # renamed into place, not copied


async def test_a_staged_block_corrupted_on_disk_is_downloaded_again(gated, gated_fleet, caplog):
    caplog.set_level(logging.INFO, logger="client")
    a, b = await half_uploaded(gated, gated_fleet)
    [staged] = await asyncio.to_thread(staging_files, b)
    index = b.daemon.prefetcher.staged()["/big.bin"][0]  # the puts run in parallel: any two of three

    def corrupt() -> None:
        with open(staged, "r+b") as f:
            f.seek(index * BLOCK_SIZE + 17)
            f.write(b"\xff\x00 not the uploaded bytes")

    await asyncio.to_thread(corrupt)
    gated.gate.release(reject=False)
    await gated_fleet.converged()
    assert await b.read("big.bin") == await a.read("big.bin")
    assert f"staged block {index} of /big.bin is not intact" in caplog.text
    fetched = re.search(r"/big.bin: (\d) of 3 blocks were fetched before the commit", caplog.text)
    assert fetched is not None
    copied = int(fetched.group(1)) - 1
    assert f"downloaded /big.bin (rev 1; {copied} of 3 blocks copied from local files)" in caplog.text


async def test_an_abandoned_upload_leaves_no_staging_file(gated, gated_fleet):
    a, b = await half_uploaded(gated, gated_fleet, b_settings=replace(TEST_SETTINGS, prefetch_keep=0.5))
    assert len(await asyncio.to_thread(staging_files, b)) == 1
    await a.stop()
    pool = gated.servers.pool
    await pool.execute(
        "UPDATE upload_sessions SET expires_at = now() - interval '1 second' WHERE state = 'open'"
    )
    await until(lambda: b.daemon.prefetcher.staged() == {}, "B to drop the staged part", within=30)
    await no_staging_files_left(b)
    assert await snapshot(b.root) == {}


async def test_staging_files_are_removed_when_the_daemon_stops_and_starts(gated, gated_fleet):
    a, b = await half_uploaded(gated, gated_fleet)
    folder = b.daemon.files.state_dir / PREFETCH_DIR
    await b.stop()
    assert await asyncio.to_thread(os.listdir, folder) == []
    # one left by a crash is removed at the next start
    await asyncio.to_thread((folder / ".tessera-tmp-0123456789abcdef").write_bytes, b"left over")
    b.start()
    await until(lambda: b.daemon.prefetcher is not None and b.idle, "B to start")
    assert ".tessera-tmp-0123456789abcdef" not in await asyncio.to_thread(os.listdir, folder)
    gated.gate.release(reject=False)
    await gated_fleet.converged()
    assert await b.read("big.bin") == await a.read("big.bin")


async def test_a_path_changed_locally_is_not_prefetched(gated, gated_fleet):
    a = await gated_fleet.add("laptop")
    b = await gated_fleet.add("desktop", settings=replace(TEST_SETTINGS, prefetch_keep=0.5))
    await gated_fleet.converged()
    gated.gate.allow = 0  # no upload gets a block stored: B's change stays unsynced
    await b.write("big.bin", b"B's own, not yet uploaded")
    await until(lambda: b.daemon.state.node("local", "/big.bin") is not None, "B to see its file")
    await asyncio.to_thread(place_random, a.path("big.bin"), SIZE, 6)
    pool = gated.servers.pool
    sessions = "SELECT count(*) FROM upload_sessions WHERE state = 'open' AND block_count = 3"
    for _ in range(600):  # A's session is open (its blocks held)
        if await pool.fetchval(sessions):
            break
        await asyncio.sleep(0.05)
    await b.daemon.prefetcher.look()
    assert b.daemon.prefetcher.staged() == {}
    gated.gate.release(reject=False)
    await gated_fleet.converged()
    await until(lambda: b.daemon.prefetcher.staged() == {}, "nothing staged at B", within=30)
    await no_staging_files_left(b)


async def test_without_prefetch_nothing_is_staged(gated, gated_fleet):
    a = await gated_fleet.add("laptop")
    b = await gated_fleet.add("desktop", settings=replace(TEST_SETTINGS, prefetch=False))
    await gated_fleet.converged()
    assert b.daemon.prefetcher is None
    await asyncio.to_thread(place_random, a.path("big.bin"), SIZE, 7)
    await gated_fleet.converged()
    assert await b.read("big.bin") == await a.read("big.bin")
    assert not (b.daemon.files.state_dir / PREFETCH_DIR).exists()


def test_the_next_look_is_timed_from_the_start_of_the_last():
    # handing the blocks out took 0.05 s of the 0.2: the next look comes 0.15 s later
    assert wait_before_next_look(10.0, 0.2, 10.05) == pytest.approx(0.15)
    # the fetches took longer than the delay: look again at once (never a negative wait)
    assert wait_before_next_look(10.0, 0.2, 10.5) == 0.0
    assert wait_before_next_look(10.0, 0.2, 10.0) == pytest.approx(0.2)


async def test_progress_is_never_looked_at_more_often_than_the_interval(gated, gated_fleet, monkeypatch):
    """However long the fetches take, B's looks at a pending upload stay POLL_INTERVAL apart or more."""
    looks: dict[int, list[float]] = {}
    original = TesseraClient.incoming_blocks

    async def recorded(self, *args, **kw):
        looks.setdefault(id(self), []).append(asyncio.get_running_loop().time())
        return await original(self, *args, **kw)

    monkeypatch.setattr(TesseraClient, "incoming_blocks", recorded)
    await half_uploaded(gated, gated_fleet)
    await asyncio.sleep(1.5)  # B keeps looking while the gate holds the third block
    [times] = looks.values()  # B's client only: A never looks at its own upload
    assert len(times) >= 3
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) >= POLL_INTERVAL * 0.99, gaps
    gated.gate.release(reject=False)
    await gated_fleet.converged()
