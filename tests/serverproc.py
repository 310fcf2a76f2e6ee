"""``tessera-server run`` in a subprocess against a test database: for tests that measure the
server process (its memory) or read its log (tracebacks), with real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

SERVER = [sys.executable, "-m", "metaserver.cli"]
_URL = re.compile(r"(metadata|block|notify) (?:server|endpoint):\s+(http://\S+)")


@dataclass
class ServerProcess:
    pid: int
    meta_url: str
    block_url: str
    notify_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def _open_log(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "wb")


@contextlib.asynccontextmanager
async def server_process(database_url: str, data_dir: Path, *args: str, **env: str) -> AsyncIterator[ServerProcess]:
    """Both servers (and the notify endpoint) in a subprocess on ephemeral ports; stderr to a log file."""
    log_path = data_dir / "server.log"
    log = _open_log(log_path)
    try:
        proc = await asyncio.create_subprocess_exec(
            *SERVER, "run", "--data-dir", str(data_dir), "--meta-port", "0", "--block-port", "0", *args,
            stdout=asyncio.subprocess.PIPE, stderr=log, env=server_env(database_url, **env),
        )  # fmt: skip
    finally:
        log.close()
    try:
        urls: dict[str, str] = {}
        while len(urls) < 3:
            line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
            assert line, log_path.read_text()
            m = _URL.match(line)
            if m:
                urls[m.group(1)] = m.group(2)
        yield ServerProcess(proc.pid, urls["metadata"], urls["block"], urls["notify"], log_path)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
