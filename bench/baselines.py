"""Baselines measured in the same run, over the same data, on the same machine.

- single-core hashlib MD5 and SHA-256 (time inside hashlib only; the file is
  read 4 MiB at a time from the page cache, which is *not* dropped);
- ``cp`` of the file (page cache not dropped, no fsync: the copy may still be
  in memory when cp returns);
- a bare aiohttp transfer over loopback: ``web.FileResponse`` to a client
  streaming to disk, and a client streaming the file up to a server writing it
  to disk (no hashing, no database, no fsync).

Every Tessera figure is quoted as a ratio to these (``*_ratio_to_md5``...).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from protocol.hashing import BLOCK_SIZE, content_hash

from .procs import Child, run_command
from .stats import rate_mib_s

PIECE = 1024 * 1024


@dataclass(frozen=True)
class Timed:
    """One timed pass over ``nbytes`` bytes."""

    name: str
    nbytes: int
    seconds: float

    @property
    def mib_s(self) -> float:
        return rate_mib_s(self.nbytes, self.seconds)

    def to_json(self) -> dict[str, float | int | str]:
        return {"name": self.name, "bytes": self.nbytes, "seconds": self.seconds, "mib_s": self.mib_s}


def md5_pass(path: Path) -> Timed:
    """Single-core MD5 of the file (blocking: call from a thread)."""
    h = hashlib.md5()
    spent = 0.0
    total = 0
    with open(path, "rb", buffering=0) as f:
        while block := f.read(BLOCK_SIZE):
            t = time.perf_counter()
            h.update(block)
            spent += time.perf_counter() - t
            total += len(block)
    return Timed("md5", total, spent)


def sha256_pass(path: Path) -> tuple[Timed, str]:
    """Single-core SHA-256 of every 4 MiB block; also returns the Tessera content hash (blocking)."""
    digests = []
    spent = 0.0
    total = 0
    with open(path, "rb", buffering=0) as f:
        while block := f.read(BLOCK_SIZE):
            t = time.perf_counter()
            digests.append(hashlib.sha256(block).hexdigest())
            spent += time.perf_counter() - t
            total += len(block)
    return Timed("sha256", total, spent), content_hash(digests)


async def cp_copy(src: Path, dest: Path) -> Timed:
    """``cp SRC DEST``, timed as a whole (process start included: a few ms)."""
    t = time.perf_counter()
    code, _out, err = await run_command(["cp", str(src), str(dest)], time_limit=3600)
    seconds = time.perf_counter() - t
    if code != 0:
        raise RuntimeError(f"cp failed ({code}): {err.strip()}")
    return Timed("cp", await asyncio.to_thread(_size, dest), seconds)


def _size(path: Path) -> int:
    return os.stat(path).st_size


class StaticServer:
    """``python -m bench.static_server DIR`` as a child process (async context manager)."""

    def __init__(self, root: Path, log_dir: Path) -> None:
        self.root = root
        self._child = Child(
            "static server",
            [sys.executable, "-m", "bench.static_server", str(root)],
            env=dict(os.environ),
            log_path=log_dir / "static-server.log",
        )
        self.url = ""
        self.pid = 0

    async def __aenter__(self) -> StaticServer:
        try:
            found = await self._child.start({"url": r"static server:\s+(http://\S+)"}, 60)
        except BaseException:
            await self._child.stop()
            raise
        self.url = found["url"]
        self.pid = self._child.pid
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._child.stop()


async def aiohttp_get(url: str, dest: Path) -> Timed:
    """Stream ``url`` to ``dest`` (bare: plain writes, no fsync)."""
    t = time.perf_counter()
    total = 0
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        resp.raise_for_status()
        with open(dest, "wb") as f:  # noqa: ASYNC230 - the bare baseline does what a naive client does
            async for piece in resp.content.iter_chunked(PIECE):
                f.write(piece)
                total += len(piece)
    return Timed("aiohttp_get", total, time.perf_counter() - t)


async def _read_pieces(src: Path) -> AsyncIterator[bytes]:
    with open(src, "rb", buffering=0) as f:  # noqa: ASYNC230 - page-cache reads, as a naive client
        while piece := f.read(PIECE):
            yield piece


async def aiohttp_put(url: str, src: Path) -> Timed:
    """Stream ``src`` up to ``url`` (the server writes it to disk, no fsync)."""
    size = await asyncio.to_thread(_size, src)
    t = time.perf_counter()
    async with aiohttp.ClientSession() as session, session.put(
        url, data=_read_pieces(src), headers={"Content-Length": str(size)}
    ) as resp:
        resp.raise_for_status()
        answer = await resp.json()
    seconds = time.perf_counter() - t
    if answer.get("received") != size:
        raise RuntimeError(f"the static server received {answer.get('received')} of {size} bytes")
    return Timed("aiohttp_put", size, seconds)


async def hash_baselines(path: Path, passes: int = 3) -> tuple[Timed, Timed, str]:
    """MD5 and SHA-256 passes (each in a thread), the median of ``passes`` of each; and the content hash.

    The median of a few passes keeps one pass slowed by other load on the
    machine from setting the baseline (and so the ratios) alone.
    """
    md5s, shas = [], []
    chash = ""
    for _ in range(passes):
        md5s.append(await asyncio.to_thread(md5_pass, path))
        sha, chash = await asyncio.to_thread(sha256_pass, path)
        shas.append(sha)
    return _median_pass(md5s), _median_pass(shas), chash


def _median_pass(runs: list[Timed]) -> Timed:
    ordered = sorted(runs, key=lambda t: t.seconds)
    return ordered[len(ordered) // 2]
