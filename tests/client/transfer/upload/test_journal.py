"""The upload journal on its own: records, keys, robustness (no servers needed)."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from client.transfer.filehash import FileHash, HashedBlock, hash_file
from client.transfer.upload.journal import (
    TABLE,
    FileStamp,
    JournalEntry,
    UploadJournal,
    UploadKey,
    pack_hashes,
    unpack_hashes,
)
from protocol.hashing import BLOCK_SIZE, BlockHash, expected_block_sizes
from tests.client.conftest import write_random

SERVER = "http://127.0.0.1:8080"


def entry_for(path: Path, upload_id: str = "u-1", *, expires_in: float = 3600) -> JournalEntry:
    return JournalEntry(
        upload_id,
        FileStamp.of(path.stat()),
        "overwrite",
        None,
        hash_file(path),
        created=time.time(),
        expires_at=time.time() + expires_in,
    )


@pytest.fixture
def sample(tmp_path) -> Path:
    return write_random(tmp_path / "sample.bin", 2 * BLOCK_SIZE + 77, seed=1)


async def test_record_lookup_forget(tmp_path, sample):
    key = UploadKey(SERVER, "/Docs/sample.bin", str(sample))
    entry = entry_for(sample)
    async with UploadJournal.in_config_dir(tmp_path / "config") as journal:
        assert await journal.lookup(key) is None
        await journal.record(key, entry)
        assert await journal.lookup(key) == entry
        # another remote path, another server: other keys
        assert await journal.lookup(UploadKey(SERVER, "/Docs/other.bin", str(sample))) is None
        assert await journal.lookup(UploadKey("http://elsewhere:8080", key.remote_path, str(sample))) is None

        await journal.forget(key, "not-this-one")  # a record replaced meanwhile is kept
        assert await journal.lookup(key) == entry
        newer = entry_for(sample, "u-2")
        await journal.record(key, newer)  # one record per key: the newer session replaces it
        assert await journal.entries() == [(key, "u-2")]
        await journal.forget(key, "u-2")
        assert await journal.lookup(key) is None and await journal.entries() == []

    db = tmp_path / "config" / "uploads.sqlite3"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


async def test_records_survive_reopening_and_expired_ones_are_pruned(tmp_path, sample):
    path = tmp_path / "j.sqlite3"
    old = UploadKey(SERVER, "/old.bin", str(sample))
    live = UploadKey(SERVER, "/live.bin", str(sample))
    async with UploadJournal(path) as journal:
        await journal.record(old, entry_for(sample, "u-old", expires_in=-3 * 24 * 3600))
        await journal.record(live, entry_for(sample, "u-live"))
    async with UploadJournal(path) as journal:
        assert [u for _, u in await journal.entries()] == ["u-live"]  # pruned on write
        assert (await journal.lookup(live)).upload_id == "u-live"


async def test_odd_local_paths_and_inodes(tmp_path, sample):
    odd = tmp_path / os.fsdecode(b"caf\xe9-latin1.bin")  # not UTF-8: a surrogate-escaped name
    odd.write_bytes(b"x")
    key = UploadKey(SERVER, "/cafe.bin", str(odd))
    entry = entry_for(odd)
    big_inode = JournalEntry(
        "u-big",
        FileStamp(entry.stamp.size, entry.stamp.mtime_ns, 2**64 - 5),
        "update",
        42,
        entry.hashed,
        entry.created,
        entry.expires_at,
    )
    async with UploadJournal(tmp_path / "j.sqlite3") as journal:
        await journal.record(key, big_inode)
        assert await journal.lookup(key) == big_inode
        assert await journal.entries() == [(key, "u-big")]


async def test_empty_file_has_no_block_hashes(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    key = UploadKey(SERVER, "/empty", str(empty))
    entry = entry_for(empty)
    assert entry.hashed.blocks == ()
    async with UploadJournal(tmp_path / "j.sqlite3") as journal:
        await journal.record(key, entry)
        assert await journal.lookup(key) == entry


async def test_a_damaged_record_is_dropped(tmp_path, sample, caplog):
    path = tmp_path / "j.sqlite3"
    key = UploadKey(SERVER, "/s.bin", str(sample))
    async with UploadJournal(path) as journal:
        await journal.record(key, entry_for(sample))
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {TABLE} SET block_hashes = substr(block_hashes, 1, 40)")
    conn.close()
    async with UploadJournal(path) as journal:
        with caplog.at_level(logging.WARNING, logger="client.transfer.upload.journal"):
            assert await journal.lookup(key) is None
        assert "dropping the unreadable record" in caplog.text
        assert await journal.entries() == []


@pytest.mark.parametrize("damage", ["directory", "not-a-database"])
async def test_an_unusable_journal_is_an_empty_one(tmp_path, sample, caplog, damage):
    path = tmp_path / "j.sqlite3"
    if damage == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"this is not a SQLite database, just some bytes" * 100)
    key = UploadKey(SERVER, "/s.bin", str(sample))
    async with UploadJournal(path) as journal:
        with caplog.at_level(logging.WARNING, logger="client.transfer.upload.journal"):
            await journal.record(key, entry_for(sample))
            assert await journal.lookup(key) is None
            await journal.forget(key, "u-1")
    warnings = [r for r in caplog.records if r.name == "client.transfer.upload.journal"]
    assert len(warnings) == 1 and "uploads will not resume" in warnings[0].getMessage()


async def test_a_closed_journal_refuses_queries(tmp_path, sample):
    journal = UploadJournal(tmp_path / "j.sqlite3")
    await journal.aclose()
    with pytest.raises(RuntimeError):
        await journal.lookup(UploadKey(SERVER, "/s.bin", str(sample)))


@given(size=st.integers(0, 5 * BLOCK_SIZE), seed=st.binary(min_size=1, max_size=8))
def test_block_hashes_pack_round_trip(size: int, seed: bytes) -> None:
    blocks = [
        HashedBlock(
            BlockHash(
                n, hashlib.md5(seed + bytes([i])).hexdigest(), hashlib.sha256(seed + bytes([i])).hexdigest()
            ),
            hashlib.blake2b(seed + bytes([i]), digest_size=8).hexdigest(),
        )
        for i, n in enumerate(expected_block_sizes(size))
    ]
    hashed = FileHash.of(size, blocks)
    packed = pack_hashes(hashed)
    assert len(packed) == 56 * len(blocks)
    assert unpack_hashes(size, packed) == hashed
    with pytest.raises(ValueError):
        unpack_hashes(size + BLOCK_SIZE, packed)


#: the first layout (no xxh3 per block), as a journal written by an older client has it
_V1_SCHEMA = """
CREATE TABLE upload_journal_v1 (
    server TEXT NOT NULL, remote_path TEXT NOT NULL, local_path BLOB NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, mode TEXT NOT NULL, parent_rev INTEGER,
    upload_id TEXT NOT NULL, content_hash TEXT NOT NULL, block_count INTEGER NOT NULL,
    block_hashes BLOB NOT NULL, created REAL NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (server, remote_path, local_path)
)
"""


async def test_a_journal_of_the_old_layout_is_dropped_cleanly(tmp_path, sample):
    path = tmp_path / "j.sqlite3"
    key = UploadKey(SERVER, "/s.bin", str(sample))
    old = entry_for(sample, "u-old")
    with sqlite3.connect(path) as conn:
        conn.execute(_V1_SCHEMA)
        conn.execute(
            "INSERT INTO upload_journal_v1 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                SERVER, "/s.bin", os.fsencode(str(sample)), old.stamp.size, old.stamp.mtime_ns,
                old.stamp.inode, "overwrite", None, "u-old", old.hashed.content_hash,
                len(old.hashed.blocks), b"".join(bytes.fromhex(b.md5 + b.sha256) for b in old.hashed.blocks),
                old.created, old.expires_at,
            ),
        )  # fmt: skip
    conn.close()
    async with UploadJournal(path) as journal:
        assert await journal.lookup(key) is None  # the old session is not resumed: a new one starts
        await journal.record(key, entry_for(sample, "u-new"))
        assert (await journal.lookup(key)).upload_id == "u-new"
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {TABLE}
