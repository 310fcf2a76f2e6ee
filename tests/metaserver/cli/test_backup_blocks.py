"""The blocks' side of backup and restore with an S3 store (moto): the manifest of what the dump
references, the objects the bucket lacks, and a restore into an empty bucket, verified."""

from __future__ import annotations

import json
import random

import pytest

from metaserver.cli.backup_blocks import BlockRow, back_up_s3, backup_path, restore_blocks
from protocol.errors import HashMismatch
from protocol.hashing import hash_block
from tests.blockserver.conftest import body_of, create_bucket, read_all, s3_store_for


def _row(block_id: str, data: bytes) -> BlockRow:
    h = hash_block(data)
    return BlockRow(block_id, h.size, h.md5, h.sha256)


async def test_s3_manifest_and_restore_into_an_empty_bucket(moto_endpoint, tmp_path):
    rng = random.Random(11)
    datas = {f"{i:032x}": rng.randbytes(1000 + i) for i in range(1, 4)}
    rows = [_row(b, d) for b, d in datas.items()]
    source = s3_store_for(moto_endpoint)
    async with source:
        await create_bucket(source)
        for row in rows[:2]:  # the third was lost from the bucket
            await source.put(row.block_id, body_of(datas[row.block_id]), row.expected)
        report = await back_up_s3(source, rows, tmp_path)
    assert (report.blocks, report.missing) == (3, 1)
    manifest = [json.loads(line) for line in (tmp_path / "blocks.manifest").read_text().splitlines()]
    assert [m["id"] for m in manifest] == [r.block_id for r in rows]
    assert manifest[0]["key"] == source.key_of(rows[0].block_id) and manifest[0]["sha256"] == rows[0].sha256

    # a local backup of the first two restores into another, empty bucket
    for row in rows[:2]:
        path = backup_path(tmp_path, row.block_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(datas[row.block_id])
    target = s3_store_for(moto_endpoint)
    async with target:
        await create_bucket(target)
        report = await restore_blocks(target, rows, tmp_path)
        assert (report.restored, report.present, report.missing) == (2, 0, 1)
        for row in rows[:2]:
            assert await read_all(target, row.block_id) == datas[row.block_id]
        again = await restore_blocks(target, rows, tmp_path)
        assert (again.restored, again.present) == (0, 2)
        # a damaged backup file is refused, not stored
        backup_path(tmp_path, rows[2].block_id).write_bytes(b"x" * rows[2].size)
        with pytest.raises(HashMismatch):
            await restore_blocks(target, rows, tmp_path)
        assert not await target.exists(rows[2].block_id)
