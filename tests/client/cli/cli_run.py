"""Running the ``tessera`` CLI as a real subprocess from a test.

The servers run in the test's event loop, so the CLI is driven with the async
subprocess API (a blocking ``subprocess.run`` would freeze the servers).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.client.conftest import PASSWORD, USER

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def assert_one_line_error(self, code: str) -> None:
        assert self.code != 0, self
        assert "Traceback" not in self.err, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("tessera: error: "), lines[0]
        assert lines[0].endswith(f"({code})"), lines[0]


class Tessera:
    """The CLI with a config folder of its own, run in ``cwd``."""

    def __init__(self, config_dir: Path, cwd: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
        self.env["TESSERA_CONFIG_DIR"] = str(config_dir)
        self.env["PYTHONPATH"] = str(REPO)
        self.config_dir = config_dir
        self.cwd = cwd

    async def start(
        self, *args: str, stdin: int | None = None, stderr: int | None = None
    ) -> asyncio.subprocess.Process:
        """Start ``tessera ARGS`` (stdout piped); the caller waits for or kills it."""
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "client.cli",
            *args,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if stderr is None else stderr,
            env=self.env,
            cwd=self.cwd,
        )

    async def __call__(self, *args: str, stdin: bytes | None = None, stderr: int | None = None) -> Run:
        proc = await self.start(*args, stdin=asyncio.subprocess.PIPE, stderr=stderr)
        out, err = await asyncio.wait_for(proc.communicate(stdin or b""), timeout=60)
        assert proc.returncode is not None
        return Run(proc.returncode, out.decode(), (err or b"").decode())


async def login(tessera: Tessera, servers: Any) -> Run:
    r = await tessera(
        "login",
        "--server",
        servers.meta_url,
        "--user",
        USER,
        "--password-stdin",
        "--device",
        "cli-test",
        stdin=f"{PASSWORD}\n".encode(),
    )
    assert r.code == 0, r
    return r
