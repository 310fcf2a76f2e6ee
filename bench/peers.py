"""Peers run side by side when they are installed: rclone (large files) here; Syncthing apart.

``make bench-peers`` installs them (Debian packages ``rclone`` and ``syncthing``).
A peer that is not on the PATH gives a row that says so, never a guess.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from .baselines import Timed
from .procs import run_command

NOT_INSTALLED = "peer not installed (make bench-peers)"


def which(name: str) -> str | None:
    return shutil.which(name)


async def version(binary: str) -> str:
    code, out, _err = await run_command([binary, "version"], time_limit=30)
    if code != 0:
        code, out, _err = await run_command([binary, "--version"], time_limit=30)
    return out.splitlines()[0].strip() if code == 0 and out else "unknown"


async def rclone_copy(src: Path, dest_dir: Path, work: Path) -> Timed:
    """``rclone copy SRC DEST_DIR`` between two local folders (rclone checks the copy by size and MD5)."""
    binary = which("rclone")
    if binary is None:
        raise FileNotFoundError(NOT_INSTALLED)
    config = work / "rclone.conf"
    await asyncio.to_thread(config.write_text, "")
    t = time.perf_counter()
    code, _out, err = await run_command(
        [binary, "copy", "--config", str(config), str(src), str(dest_dir)], time_limit=3600
    )
    seconds = time.perf_counter() - t
    if code != 0:
        raise RuntimeError(f"rclone copy failed ({code}): {err.strip()[-500:]}")
    copied = dest_dir / src.name
    size = (await asyncio.to_thread(copied.stat)).st_size
    return Timed("rclone_copy", size, seconds)
