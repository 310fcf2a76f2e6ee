"""`tessera put` killed with SIGKILL mid-upload, then run again: it resumes.

The block server admits the first blocks and holds the next PUTs until the
client is dead; the held ones are then failed, so exactly the admitted blocks
are stored. The second run is counted on the server side: the PUTs its block
store sees, and the upload sessions in the database.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from client.transfer.upload.journal import UploadJournal
from tests.client.conftest import PASSWORD, USER, GatedServers, eventually, overwrite_at, write_random
from tests.client.transfer.test_client import file_sha256

from .cli_run import Tessera, login

NBLOCKS = 10
STORED_BEFORE_KILL = 4
SIZE = NBLOCKS * 4 * 1024 * 1024 - 12345  # ~40 MiB, 10 blocks


@pytest.fixture
async def tessera(gated, tmp_path) -> Tessera:
    await gated.servers.add_user(USER, PASSWORD)
    work = tmp_path / "work"
    work.mkdir()
    t = Tessera(tmp_path / "config", work)
    await login(t, gated.servers)
    return t


async def put_killed_midway(gated: GatedServers, tessera: Tessera, src: Path, remote: str) -> str:
    """Run `tessera put`, SIGKILL it once STORED_BEFORE_KILL blocks are stored; its upload id."""
    gated.gate.allow = STORED_BEFORE_KILL
    proc = await tessera.start("put", str(src), remote, "--json")
    try:

        async def mid_upload() -> bool:
            if proc.returncode is not None:
                raise AssertionError(f"tessera put ended on its own ({proc.returncode})")
            return await gated.stored_blocks() == STORED_BEFORE_KILL and gated.gate.held > 0

        await eventually(mid_upload, "tessera put to be mid-upload")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    gated.gate.release(reject=True)
    await gated.settle()
    assert await gated.stored_blocks() == STORED_BEFORE_KILL
    gated.gate.reset()
    upload_ids = await gated.servers.pool.fetch("SELECT id FROM upload_sessions")
    assert len(upload_ids) == 1
    return str(upload_ids[0]["id"])


async def journal_entries(tessera: Tessera) -> list[str]:
    async with UploadJournal.in_config_dir(tessera.config_dir) as journal:
        return [upload_id for _, upload_id in await journal.entries()]


async def assert_downloads_identical(tessera: Tessera, remote: str, src: Path) -> None:
    r = await tessera("get", remote, "downloaded.bin")
    assert r.code == 0, r
    out = tessera.cwd / "downloaded.bin"
    assert await asyncio.to_thread(file_sha256, out) == await asyncio.to_thread(file_sha256, src)


@pytest.mark.parametrize("between", ["nothing", "file-changed", "session-expired"])
async def test_put_killed_then_run_again(gated, tessera, between):
    src = write_random(tessera.cwd / "big.bin", SIZE, seed=40)
    first_id = await put_killed_midway(gated, tessera, src, "/Backups/")
    assert await journal_entries(tessera) == [first_id]  # the session survived the kill

    if between == "file-changed":
        overwrite_at(src, SIZE - 100, b"edited after the kill")  # the stored first blocks stay valid
    elif between == "session-expired":
        await gated.servers.pool.execute("UPDATE upload_sessions SET expires_at = now()")

    r = await tessera("put", str(src), "/Backups/", "--json")
    assert r.code == 0, r
    put = r.json()
    missing = NBLOCKS - STORED_BEFORE_KILL
    # only the missing blocks were sent, as the client says and the server saw
    assert put["blocks_total"] == NBLOCKS
    assert put["blocks_sent"] == missing == gated.gate.admitted
    sessions = await gated.servers.pool.fetchval("SELECT count(*) FROM upload_sessions")
    if between == "nothing":
        assert put["resumed"] is True and put["upload_id"] == first_id and sessions == 1
    else:
        # a new session; the blocks stored by the killed run are deduplicated
        assert put["resumed"] is False and put["upload_id"] != first_id and sessions == 2
    assert await gated.stored_blocks() == NBLOCKS
    assert await journal_entries(tessera) == []
    await assert_downloads_identical(tessera, "/Backups/big.bin", src)


async def test_human_output_says_resumed(gated, tessera):
    src = write_random(tessera.cwd / "big.bin", SIZE, seed=41)
    await put_killed_midway(gated, tessera, src, "/b.bin")
    r = await tessera("put", str(src), "/b.bin")
    assert r.code == 0, r
    assert f"sent {NBLOCKS - STORED_BEFORE_KILL} of {NBLOCKS} blocks, resumed)" in r.out
