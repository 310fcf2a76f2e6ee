"""Settings of the sync daemon, and where it keeps the files of each synced folder.

Each synced folder has a state directory of its own under the config dir::

    <config dir>/sync/<folder name>-<12 hex digits of the path's hash>/
        sync.sqlite3   the three trees, the cursor, the block index
        status.json    what the daemon is doing (``tessera status``)
        sync.log       the daemon's log
        lock           held while a daemon runs
        prefetch/      files being fetched while another device uploads them
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

SYNC_DIR = "sync"
STATUS_FILE = "status.json"
LOG_FILE = "sync.log"
LOCK_FILE = "lock"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """How the daemon paces itself. The defaults suit a real folder; tests shorten them."""

    #: seconds between full rescans (the watcher covers the time between)
    rescan_interval: float = 600.0
    #: use a file watcher (else only the periodic rescans see local changes)
    watch: bool = True
    #: the watcher waits this long for a burst of changes to end (ms), at most ``watch_max_ms``;
    #: it is also how often the watcher's thread wakes up while the folder is quiet
    watch_step_ms: int = 50
    watch_max_ms: int = 2000
    #: seconds the server holds a long-poll (30 to 480)
    longpoll_timeout: int = 90
    #: files transferred at once
    transfers: int = 4
    #: local file operations and remote metadata changes run at once
    operations: int = 8
    #: uploads of small files are batched once at least this many are planned
    batch_min: int = 8
    #: first retry delay of a failed action (seconds); doubles per failure up to ``retry_max``
    retry_base: float = 2.0
    retry_max: float = 300.0
    #: delay before re-planning an action that found the disk or server changed under it
    recheck_delay: float = 0.5
    #: fetch other devices' large files while they upload them (:mod:`client.sync.remote.prefetch`)
    prefetch: bool = True
    #: seconds a prefetched file is kept once its upload is no longer offered (awaiting its commit)
    prefetch_keep: float = 120.0

    def __post_init__(self) -> None:
        if not 30 <= self.longpoll_timeout <= 480:
            raise ValueError("longpoll_timeout must be 30 to 480 seconds")
        if min(self.transfers, self.operations, self.batch_min) < 1:
            raise ValueError("transfers, operations and batch_min must be at least 1")
        if self.rescan_interval <= 0 or self.retry_base <= 0 or self.retry_max < self.retry_base:
            raise ValueError("intervals must be positive and retry_max >= retry_base")

    def retry_delay(self, attempts: int, base: float | None = None) -> float:
        """The wait after the ``attempts``-th failure in a row."""
        first = self.retry_base if base is None else base
        return min(self.retry_max, first * 2 ** max(0, attempts - 1))


@dataclass(frozen=True, slots=True)
class FolderFiles:
    """The synced folder and the files the daemon keeps about it."""

    root: Path
    state_dir: Path

    @classmethod
    def of(cls, config_dir: Path, root: Path) -> FolderFiles:
        """The files of ``root`` (made absolute, symlinks resolved) under ``config_dir``."""
        root = Path(os.path.realpath(root))
        digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:12]
        name = _UNSAFE.sub("_", root.name)[:40] or "root"
        return cls(root, Path(os.path.abspath(config_dir)) / SYNC_DIR / f"{name}-{digest}")

    @property
    def status(self) -> Path:
        return self.state_dir / STATUS_FILE

    @property
    def log(self) -> Path:
        return self.state_dir / LOG_FILE

    @property
    def lock(self) -> Path:
        return self.state_dir / LOCK_FILE


def state_dirs(config_dir: Path) -> list[Path]:
    """Every synced folder's state directory under ``config_dir`` (blocking)."""
    base = Path(config_dir) / SYNC_DIR
    try:
        return sorted(p for p in base.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
