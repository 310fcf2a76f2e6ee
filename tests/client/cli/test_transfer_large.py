"""A file over 1 GiB through `tessera put` and `tessera get`, in bounded memory on both sides.

Everything runs as real processes: the servers (`tessera-server run`, on the
test's own PostgreSQL database), and each CLI command. A sampler thread reads
the peak resident set size of the client and of the server process while the
file moves; both must stay well under 200 MB. The gigabytes written (source,
stored blocks, copy) are deleted at the end, pass or fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import signal
import struct
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from protocol.hashing import BLOCK_SIZE

from .cli_run import Tessera

GiB = 1 << 30
MiB = 1 << 20
#: just over 1 GiB, so the last block is a short one
FILE_SIZE = GiB + 12345
#: "well under 200 MB" (measured: about 70 MiB each, of which ~42 MiB is the interpreter and imports)
RSS_LIMIT = 150 * MiB
USER, PASSWORD = "big", "big-files-pw"
SERVER = [sys.executable, "-m", "metaserver.cli"]

pytestmark = pytest.mark.slow


class PeakRss:
    """Samples the resident set size of processes (and their children) from a thread."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peaks: dict[str, int] = {}
        self._watched: dict[str, psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self._watched[name] = psutil.Process(pid)
            self.peaks.setdefault(name, 0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                watched = list(self._watched.items())
            for name, proc in watched:
                rss = _tree_rss(proc)
                with self._lock:
                    self.peaks[name] = max(self.peaks[name], rss)


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def write_distinct_blocks(path: Path, size: int, seed: int = 0) -> None:
    """``size`` bytes of random-looking data, streamed out, no two blocks alike (so none dedupe).

    One random 4 MiB pool, rotated differently for every block and stamped with
    the block's number: fast to make, and every block has its own hash.
    """
    pool = os.urandom(BLOCK_SIZE)
    block = bytearray(BLOCK_SIZE)
    with open(path, "wb") as f:
        index = 0
        left = size
        while left:
            shift = (index * 1_048_583 + seed) % BLOCK_SIZE
            block[: BLOCK_SIZE - shift] = pool[shift:]
            block[BLOCK_SIZE - shift :] = pool[:shift]
            block[:16] = struct.pack("<QQ", seed, index)
            n = min(left, BLOCK_SIZE)
            f.write(memoryview(block)[:n])
            left -= n
            index += 1


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(MiB)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


async def run_server_cmd(env: dict[str, str], *args: str, stdin: bytes = b"") -> str:
    proc = await asyncio.create_subprocess_exec(
        *SERVER,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


class ServerProcess:
    def __init__(self, proc: asyncio.subprocess.Process, meta_url: str, env: dict[str, str]) -> None:
        self.proc = proc
        self.meta_url = meta_url
        self.env = env


@pytest.fixture
async def server_process(database_url, tmp_path) -> AsyncIterator[ServerProcess]:
    """`tessera-server run` in a subprocess, on this test's database, with a user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "PG"))}
    env["DATABASE_URL"] = database_url
    data_dir = tmp_path / "server"
    proc = await asyncio.create_subprocess_exec(
        *SERVER,
        "run",
        "--data-dir",
        str(data_dir),
        "--meta-port",
        "0",
        "--block-port",
        "0",
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        assert proc.stdout is not None
        urls: dict[str, str] = {}
        while len(urls) < 2:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, f"tessera-server run exited ({await proc.wait()})"
            if m := re.match(r"(metadata|block) server:\s+(http://\S+)", line):
                urls[m.group(1)] = m.group(2)
        await run_server_cmd(
            env,
            "user",
            "add",
            USER,
            "--password-stdin",
            "--data-dir",
            str(data_dir),
            stdin=f"{PASSWORD}\n".encode(),
        )
        yield ServerProcess(proc, urls["metadata"], env)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.to_thread(shutil.rmtree, data_dir, ignore_errors=True)


async def run_watched(tessera: Tessera, rss: PeakRss, name: str, *args: str) -> None:
    """Run ``tessera ARGS`` with its memory sampled as ``name``."""
    proc = await tessera.start(*args)
    rss.watch(name, proc.pid)
    _, err = await asyncio.wait_for(proc.communicate(), 150)
    assert proc.returncode == 0, err.decode()


async def test_one_gib_through_put_and_get_in_bounded_memory(server_process, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    src, out = work / "big.bin", work / "copy.bin"
    try:
        await asyncio.to_thread(write_distinct_blocks, src, FILE_SIZE, 7)
        tessera = Tessera(tmp_path / "config", work)
        r = await tessera(
            "login", "--server", server_process.meta_url, "--user", USER, "--password-stdin",
            stdin=f"{PASSWORD}\n".encode(),
        )  # fmt: skip
        assert r.code == 0, r

        with PeakRss() as rss:
            rss.watch("server", server_process.proc.pid)
            await run_watched(tessera, rss, "put", "put", str(src), "/big.bin")
            await run_watched(tessera, rss, "get", "get", "/big.bin", str(out))

        report = ", ".join(f"{name} {peak / MiB:.0f} MiB" for name, peak in rss.peaks.items())
        print(f"\npeak RSS moving {FILE_SIZE / GiB:.2f} GiB: {report}")
        for name, peak in rss.peaks.items():
            assert 0 < peak < RSS_LIMIT, f"peak RSS of {name} was {peak / MiB:.0f} MiB ({report})"
        assert out.stat().st_size == FILE_SIZE
        source_hash, copy_hash = await asyncio.gather(
            asyncio.to_thread(sha256_of, src), asyncio.to_thread(sha256_of, out)
        )
        assert copy_hash == source_hash
    finally:
        for path in (src, out):
            path.unlink(missing_ok=True)
