"""Test data: random files made in a temp directory (never committed), edits, block hashes.

All of it is blocking file I/O: call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

from protocol.hashing import BLOCK_SIZE

CHUNK = 4 * 1024 * 1024


class NotEnoughSpace(RuntimeError):
    """The work directory's file system lacks the room a scenario needs."""


def check_free_space(directory: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise NotEnoughSpace(
            f"{what} needs about {needed / 2**30:.1f} GiB free in {directory}, "
            f"which has {free / 2**30:.1f} GiB (choose another place with --work-dir)"
        )


def write_random(path: Path, size: int, seed: int) -> Path:
    """``size`` pseudo-random bytes (reproducible from ``seed``; every block distinct)."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, CHUNK)
            f.write(rng.randbytes(n))
            left -= n
    return path


def overwrite_random(path: Path, offset: int, length: int, seed: int) -> None:
    """Replace ``length`` bytes at ``offset`` with new random bytes (the file keeps its size)."""
    rng = random.Random(seed)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(rng.randbytes(length))


def append_random(path: Path, length: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "ab") as f:
        left = length
        while left:
            n = min(left, CHUNK)
            f.write(rng.randbytes(n))
            left -= n


def block_sha256s(path: Path, block_size: int = BLOCK_SIZE) -> list[str]:
    """The SHA-256 of each block of the file, as Tessera splits it."""
    out = []
    with open(path, "rb", buffering=0) as f:
        while block := f.read(block_size):
            out.append(hashlib.sha256(block).hexdigest())
    return out


def changed_blocks(before: list[str], after: list[str]) -> list[int]:
    """Indexes of the blocks of ``after`` whose content ``before`` does not have at that index."""
    return [i for i, h in enumerate(after) if i >= len(before) or before[i] != h]


def same_content(a: Path, b: Path) -> bool:
    """Byte-for-byte comparison, 4 MiB at a time."""
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
        while True:
            x, y = fa.read(CHUNK), fb.read(CHUNK)
            if x != y:
                return False
            if not x:
                return True


def flush_disk() -> None:
    """Write every dirty page to disk (``sync``). Called before each timed step, for every system
    timed, so that no step pays for the write-back of what the harness wrote while setting it up
    (a file system flush, as Tessera's ``syncfs`` groups, would otherwise carry it)."""
    os.sync()


def remove(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
