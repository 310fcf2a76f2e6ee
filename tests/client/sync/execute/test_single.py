# ruff: noqa: F811
"""The sync daemon's uploads reuse its scan's hashes: an edit costs one xxh3 pass, the changed
block's MD5 + SHA-256, and one PUT."""

from __future__ import annotations

import logging
import os
import time

from client.sync.execute.results import Outcome
from client.sync.local.scan import scan, scanned_hash
from client.sync.plan.reconcile import Upload
from client.transfer.filehash import hash_file
from protocol.hashing import BLOCK_SIZE
from tests.client.conftest import overwrite_at, write_random

from .test_executor import rig  # noqa: F401  (the fixture; the tests take it by name)

PUT = "PUT /v1/blocks/{block_id}"
NBLOCKS = 8


async def test_an_edit_hashes_and_sends_only_the_changed_block(rig, counted, caplog):
    path = rig.root / "big.bin"
    write_random(path, NBLOCKS * BLOCK_SIZE, seed=51)
    first = await scan(rig.root, rig.state, rig.rules)
    assert first.stats.blocks_hashed == NBLOCKS
    with caplog.at_level(logging.INFO, logger="client.sync.execute.single"):
        assert await rig.run(Upload("/big.bin", hash_file(path).content_hash, None)) == Outcome.DONE
    assert counted.block[PUT] == NBLOCKS
    assert f"sent {NBLOCKS} of {NBLOCKS} blocks, hashed 0" in caplog.text  # the scan's hashes were used
    rev = rig.state.node("synced", "/big.bin").rev

    counted.reset()
    caplog.clear()
    overwrite_at(path, 3 * BLOCK_SIZE + 100, os.urandom(1024 * 1024))  # 1 MiB inside block 3
    edit = await scan(rig.root, rig.state, rig.rules)
    assert (edit.stats.blocks_hashed, edit.stats.blocks_reused) == (1, NBLOCKS - 1)
    with caplog.at_level(logging.INFO, logger="client.sync.execute.single"):
        assert await rig.run(Upload("/big.bin", hash_file(path).content_hash, rev)) == Outcome.DONE
    assert counted.block[PUT] == 1
    assert f"sent 1 of {NBLOCKS} blocks, hashed 0" in caplog.text
    meta = await rig.client.meta("/big.bin")
    assert meta.content_hash == hash_file(path).content_hash


async def test_a_file_changed_after_its_scan_is_hashed_again(rig, caplog):
    path = rig.root / "doc.bin"
    write_random(path, 2 * BLOCK_SIZE, seed=52)
    await scan(rig.root, rig.state, rig.rules)
    scanned = hash_file(path).content_hash
    known = scanned_hash(rig.state, "/doc.bin", scanned)
    assert known is not None and known.hashed.content_hash == scanned

    overwrite_at(path, 10, b"edited after the scan")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # a new stamp, whatever the clock
    result = await rig.client.upload_file(path, "/doc.bin", known=known)
    assert result.blocks_hashed == 2  # the stale hashes were not used
    assert result.metadata.content_hash == hash_file(path).content_hash != scanned


async def test_no_scan_hashes_for_other_content_or_an_unknown_file(rig):
    path = rig.root / "a.bin"
    write_random(path, 100, seed=53)
    await scan(rig.root, rig.state, rig.rules, clock=lambda: time.time() + 60)
    assert scanned_hash(rig.state, "/a.bin", "0" * 64) is None
    assert scanned_hash(rig.state, "/nope.bin", hash_file(path).content_hash) is None
    known = scanned_hash(rig.state, "/a.bin", hash_file(path).content_hash)
    assert known is not None and known.hashed == hash_file(path)
