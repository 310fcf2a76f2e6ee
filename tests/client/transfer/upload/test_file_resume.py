"""Resuming interrupted uploads through the library (the CLI's kill -9 test:
tests/client/cli/test_transfer_resume.py).

An upload is interrupted for real: the block server admits a few PUTs, holds
the rest, and the upload task is cancelled while they are held; the held PUTs
are then failed, so exactly the admitted blocks are stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client import TesseraClient
from client.api.errors import FileChanged
from client.transfer.upload.journal import UploadJournal
from protocol.errors import Conflict
from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import (
    FAST_RETRY,
    PASSWORD,
    USER,
    GatedServers,
    eventually,
    overwrite_at,
    write_random,
)
from tests.client.transfer.test_client import file_sha256

NBLOCKS = 8
STORED_BEFORE_CUT = 3


@pytest.fixture
async def client(gated) -> AsyncIterator[TesseraClient]:
    await gated.servers.add_user(USER, PASSWORD)
    token = await gated.servers.login(USER, PASSWORD)
    async with TesseraClient(gated.servers.meta_url, token, retry=FAST_RETRY) as c:
        yield c


@pytest.fixture
async def journal(tmp_path) -> AsyncIterator[UploadJournal]:
    async with UploadJournal(tmp_path / "state" / "uploads.sqlite3") as j:
        yield j


@pytest.fixture
def src(tmp_path) -> Path:
    return write_random(tmp_path / "big.bin", NBLOCKS * BLOCK_SIZE - 1000, seed=8)


async def interrupt_upload(
    gated: GatedServers, client: TesseraClient, src: Path, remote: str, journal: UploadJournal
) -> str:
    """Start an upload, cancel it once ``STORED_BEFORE_CUT`` blocks are stored; its upload id."""
    gated.gate.allow = STORED_BEFORE_CUT
    task = asyncio.create_task(client.upload_file(src, remote, resume=journal))

    async def cut_point() -> bool:
        return await gated.stored_blocks() == STORED_BEFORE_CUT and gated.gate.held > 0

    await eventually(cut_point, "the upload to reach the cut")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gated.gate.release(reject=True)
    await gated.settle()
    assert await gated.stored_blocks() == STORED_BEFORE_CUT
    gated.gate.reset()
    [(key, upload_id)] = await journal.entries()
    assert key.remote_path == remote and key.local_path == str(src)
    return upload_id


async def sessions(gated: GatedServers) -> int:
    return await gated.servers.pool.fetchval("SELECT count(*) FROM upload_sessions")


async def download_matches(client: TesseraClient, remote: str, src: Path, tmp_path: Path) -> bool:
    out = tmp_path / "downloaded.bin"
    await client.download_file(remote, out)
    return await asyncio.to_thread(file_sha256, out) == await asyncio.to_thread(file_sha256, src)


async def test_interrupted_upload_resumes_its_session(gated, client, journal, src, tmp_path):
    first_id = await interrupt_upload(gated, client, src, "/r/big.bin", journal)

    result = await client.upload_file(src, "/r/big.bin", resume=journal)
    assert result.resumed and result.upload_id == first_id
    assert result.blocks_total == NBLOCKS
    assert result.blocks_sent == NBLOCKS - STORED_BEFORE_CUT == gated.gate.admitted
    assert result.bytes_sent == src.stat().st_size - STORED_BEFORE_CUT * BLOCK_SIZE
    assert await sessions(gated) == 1
    assert await journal.entries() == []  # forgotten once committed
    assert await download_matches(client, "/r/big.bin", src, tmp_path)


async def test_without_a_journal_nothing_is_resumed(gated, client, journal, src, tmp_path):
    await interrupt_upload(gated, client, src, "/r/big.bin", journal)
    result = await client.upload_file(src, "/r/big.bin")
    # the server still deduplicates the stored blocks, but in a new session, after hashing again
    assert not result.resumed and await sessions(gated) == 2
    assert result.blocks_sent == NBLOCKS - STORED_BEFORE_CUT
    assert len(await journal.entries()) == 1


async def test_changed_file_starts_a_new_session(gated, client, journal, src, tmp_path):
    first_id = await interrupt_upload(gated, client, src, "/r/big.bin", journal)
    overwrite_at(src, (NBLOCKS - 1) * BLOCK_SIZE + 10, b"changed")  # the stored first blocks stay valid

    result = await client.upload_file(src, "/r/big.bin", resume=journal)
    assert not result.resumed and result.upload_id != first_id
    assert result.blocks_sent == NBLOCKS - STORED_BEFORE_CUT  # the stored ones are deduplicated
    assert await journal.entries() == []
    assert await download_matches(client, "/r/big.bin", src, tmp_path)


async def test_other_mode_starts_a_new_session(gated, client, journal, src, tmp_path):
    first_id = await interrupt_upload(gated, client, src, "/r/big.bin", journal)
    result = await client.upload_file(src, "/r/big.bin", mode="add", resume=journal)
    assert not result.resumed and result.upload_id != first_id
    assert await journal.entries() == []


@pytest.mark.parametrize("how", ["expired", "deleted"])
async def test_expired_or_unknown_session_starts_over(gated, client, journal, src, tmp_path, how):
    first_id = await interrupt_upload(gated, client, src, "/r/big.bin", journal)
    pool = gated.servers.pool
    if how == "expired":
        await pool.execute("UPDATE upload_sessions SET expires_at = now()")
    else:
        await pool.execute("DELETE FROM upload_sessions")

    result = await client.upload_file(src, "/r/big.bin", resume=journal)
    assert not result.resumed and result.upload_id != first_id
    assert result.blocks_sent == NBLOCKS - STORED_BEFORE_CUT
    assert await journal.entries() == []
    assert await download_matches(client, "/r/big.bin", src, tmp_path)


async def test_session_expiring_during_the_upload_starts_over(gated, client, journal, src, tmp_path):
    pool = gated.servers.pool
    expired: list[str] = []

    async def expire_the_session_once(_block_id: str) -> None:
        if not expired:
            expired.append(_block_id)
            await pool.execute("UPDATE upload_sessions SET expires_at = now() WHERE state = 'open'")

    gated.gate.on_admit = expire_the_session_once
    result = await client.upload_file(src, "/r/big.bin", resume=journal)
    assert expired and not result.resumed
    # the first session's blocks all went out, then its commit found it expired; the new
    # session deduplicates them all and commits
    assert await sessions(gated) == 2 and result.blocks_sent == NBLOCKS
    assert await journal.entries() == []
    assert await download_matches(client, "/r/big.bin", src, tmp_path)


async def test_conflict_forgets_the_session(gated, client, journal, src, tmp_path):
    other = write_random(tmp_path / "other.bin", 10, seed=9)
    await client.upload_file(other, "/r/big.bin")
    with pytest.raises(Conflict):
        await client.upload_file(src, "/r/big.bin", mode="add", resume=journal)
    assert await journal.entries() == []


async def test_file_changed_during_upload_forgets_the_session(gated, client, journal, src):
    class EditOnUpload:
        def phase(self, name: str, total: int) -> None:
            if name == "upload":
                with open(src, "ab") as f:
                    f.write(b"more")

        def advance(self, nbytes: int) -> None:
            pass

    with pytest.raises(FileChanged):
        await client.upload_file(src, "/r/big.bin", resume=journal, progress=EditOnUpload())
    assert await journal.entries() == []


async def test_unusable_journal_still_uploads(gated, client, src, tmp_path, caplog):
    bad = tmp_path / "not-a-db"
    bad.mkdir()
    async with UploadJournal(bad) as journal:
        with caplog.at_level(logging.WARNING, logger="client.transfer.upload.journal"):
            result = await client.upload_file(src, "/r/big.bin", resume=journal)
    assert result.blocks_sent == NBLOCKS and not result.resumed
    assert "uploads will not resume" in caplog.text
