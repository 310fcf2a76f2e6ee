"""``tessera sync`` and ``tessera status`` as real processes: SIGKILL mid-download, SIGTERM, status."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
from pathlib import Path

from client import TesseraClient
from client.sync.settings import FolderFiles
from client.transfer.download.file import TEMP_PREFIX
from client.transfer.filehash import hash_file
from tests.client.conftest import FAST_RETRY, PASSWORD, USER, write_random
from tests.client.sync.sync_harness import eventually, until

from .cli_run import Tessera, login

MiB = 1024 * 1024


def _future_schema(db: Path) -> None:
    """Make the state database look written by a newer Tessera."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA user_version = 99")


def _temp_files(root: Path) -> list[str]:
    return [n for _, _, files in os.walk(root) for n in files if n.startswith(TEMP_PREFIX)]


async def _status(tessera: Tessera) -> dict:
    r = await tessera("status", "--json")
    assert r.code == 0, r
    [folder] = r.json()["folders"]
    return folder


async def test_a_killed_daemon_leaves_no_partial_file_and_finishes_after_restart(counted, tmp_path):
    servers = counted.servers
    await servers.add_user(USER, PASSWORD)
    tessera = Tessera(tmp_path / "config", tmp_path)
    await login(tessera, servers)
    r = await tessera("status")
    assert r.code == 0 and "No folder is synced" in r.out, r

    src = await asyncio.to_thread(write_random, tmp_path / "big.src", 40 * MiB, 9)
    token = await servers.login(USER, PASSWORD, device="other")
    async with TesseraClient(servers.meta_url, token, retry=FAST_RETRY) as other:
        await other.upload_file(src, "/videos/big.bin")
    want = (await asyncio.to_thread(hash_file, src)).content_hash

    folder = tmp_path / "Tessera"
    folder.mkdir()
    target = folder / "videos" / "big.bin"
    log_err = await asyncio.to_thread(open, tmp_path / "sync.stderr", "wb")
    counted.block_get_delay = 0.3  # each block takes a while: the download can be caught in the middle
    try:
        proc = await tessera.start("sync", str(folder), stderr=log_err.fileno())
        await until(lambda: bool(_temp_files(folder)), "the download to start", within=60)
        proc.kill()
        assert await proc.wait() == -signal.SIGKILL
        assert not target.exists()  # nothing half-written under the real name

        proc = await tessera.start("sync", str(folder), stderr=log_err.fileno())

        async def finished() -> bool:
            if not target.exists() or _temp_files(folder):
                return False
            doc = await _status(tessera)
            return doc["running"] and doc["phase"] == "idle"

        await eventually(finished, "the restarted daemon to finish the download")
        assert (await asyncio.to_thread(hash_file, target)).content_hash == want

        r = await tessera("status")
        assert r.code == 0 and f"{folder}: up to date" in r.out, r
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log_err.close()
    stderr = (tmp_path / "sync.stderr").read_text()
    assert "Traceback" not in stderr, stderr

    doc = await _status(tessera)
    assert doc["running"] is False and doc["phase"] == "stopped"
    r = await tessera("status")
    assert "not running" in r.out, r
    log = FolderFiles.of(tessera.config_dir, folder).log.read_text()
    assert "removed 1 temporary file(s) of interrupted downloads" in log
    assert "downloaded /videos/big.bin" in log


async def test_sync_refuses_a_second_daemon_and_a_missing_folder(counted, tmp_path):
    servers = counted.servers
    await servers.add_user(USER, PASSWORD)
    tessera = Tessera(tmp_path / "config", tmp_path)
    await login(tessera, servers)
    folder = tmp_path / "Tessera"
    folder.mkdir()
    first = await tessera.start("sync", str(folder))
    try:
        await until(lambda: FolderFiles.of(tessera.config_dir, folder).status.exists(), "the daemon to start")
        r = await tessera("sync", str(folder))
        r.assert_one_line_error("sync_running")
    finally:
        first.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(first.wait(), 60) == 0

    state_db = FolderFiles.of(tessera.config_dir, folder).state_dir / "sync.sqlite3"
    await asyncio.to_thread(_future_schema, state_db)
    r = await tessera("sync", str(folder))
    r.assert_one_line_error("sync_state")

    r = await tessera("sync", str(tmp_path / "nowhere"))
    assert r.code == 2 and "does not exist" in r.err, r
    r = await tessera("status", str(tmp_path / "nowhere"), "--json")
    assert r.code == 4 and r.json()["error"]["code"] == "not_found", r
