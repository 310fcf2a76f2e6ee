"""The blocks' side of ``tessera-server backup`` and ``restore`` (:mod:`.backup`).

A backup holds the blocks the database dump lists as stored: for a local-disk store, a copy of
each (``blocks/ab/abcd...``, the store's own layout; a block already in the backup directory
from an earlier run is not copied again: blocks never change); for S3, ``blocks.manifest``,
one JSON line per block (id, object key, size, SHA-256), and the count of those the bucket
lacks. A restore puts every block of the backup into the configured store, verified against
the MD5 and SHA-256 the restored database holds, and counts the blocks the database lists that
neither the backup nor the store has.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from protocol.hashing import BlockHash

#: blocks copied, or restored into the store, at once
CONCURRENCY = 8
MANIFEST = "blocks.manifest"
BLOCKS_DIR = "blocks"


@dataclass(frozen=True, slots=True)
class BlockRow:
    block_id: str
    size: int
    md5: str
    sha256: str

    @property
    def expected(self) -> BlockHash:
        return BlockHash(self.size, self.md5, self.sha256)


def row_of(record) -> BlockRow:
    """A ``blocks`` row read on a plain asyncpg connection (its id a uuid.UUID)."""
    return BlockRow(str(record["id"]).replace("-", ""), record["size"], record["md5"].hex(), record["sha256"].hex())


def backup_path(root: Path, block_id: str) -> Path:
    return root / BLOCKS_DIR / block_id[:2] / block_id


async def _bounded(jobs: Iterable, run) -> list:
    """``run(job)`` for every job, at most :data:`CONCURRENCY` at once; results in order."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(job):
        async with slots:
            return await run(job)

    return await asyncio.gather(*(one(j) for j in jobs))


def _copy_file(src: Path, dest: Path) -> bool:
    """Copy one block file into the backup (temp file, fsync, rename); False if it was there already
    or ``src`` is missing (the caller counts missing ones)."""
    if dest.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1024 * 1024)
        fout.flush()
        os.fsync(fout.fileno())
    tmp.replace(dest)
    return True


@dataclass(slots=True)
class BlocksReport:
    blocks: int = 0
    bytes: int = 0
    copied: int = 0
    missing: int = 0


async def back_up_local(store, rows: list[BlockRow], dest: Path) -> BlocksReport:
    """Copy the blocks of a LocalStore into ``dest/blocks``."""
    report = BlocksReport(blocks=len(rows), bytes=sum(r.size for r in rows))

    async def copy(row: BlockRow) -> str:
        try:
            src, target = store.path_of(row.block_id), backup_path(dest, row.block_id)
            return "copied" if await asyncio.to_thread(_copy_file, src, target) else "kept"
        except FileNotFoundError:
            return "missing"

    outcomes = await _bounded(rows, copy)
    report.copied, report.missing = outcomes.count("copied"), outcomes.count("missing")
    return report


async def back_up_s3(store, rows: list[BlockRow], dest: Path) -> BlocksReport:
    """Write the manifest of the objects the dump references; count those the bucket lacks."""
    present = {block_id async for block_id in store.list_ids()}
    report = BlocksReport(blocks=len(rows), bytes=sum(r.size for r in rows))
    report.missing = sum(1 for r in rows if r.block_id not in present)
    lines = (
        json.dumps({"id": r.block_id, "key": store.key_of(r.block_id), "size": r.size, "sha256": r.sha256})
        for r in rows
    )
    tmp = dest / f".{MANIFEST}.tmp"
    await asyncio.to_thread(_write_lines, tmp, lines)
    tmp.replace(dest / MANIFEST)
    return report


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


async def _file_body(path: Path) -> AsyncIterator[bytes]:
    data = await asyncio.to_thread(path.read_bytes)  # a block is at most 4 MiB
    yield data


@dataclass(slots=True)
class RestoreReport:
    blocks: int = 0
    restored: int = 0
    present: int = 0
    missing: int = 0


async def restore_blocks(store, rows: list[BlockRow], src: Path) -> RestoreReport:
    """Put the backup's blocks into ``store`` (verified); count the ones only the store has, and
    the ones nobody has."""
    present = {block_id async for block_id in store.list_ids()}
    report = RestoreReport(blocks=len(rows))

    async def restore(row: BlockRow) -> str:
        if row.block_id in present:
            return "present"
        path = backup_path(src, row.block_id)
        if not path.exists():
            return "missing"
        await store.put(row.block_id, _file_body(path), row.expected)
        return "restored"

    outcomes = await _bounded(rows, restore)
    report.restored, report.present, report.missing = (outcomes.count(k) for k in ("restored", "present", "missing"))
    return report
