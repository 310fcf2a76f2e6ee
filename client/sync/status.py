"""What a sync daemon is doing, kept in memory and mirrored to a status file.

The daemon updates one :class:`SyncStatus` on its event loop; a writer task
saves :meth:`SyncStatus.to_json` to ``status.json`` in the folder's state
directory (atomically: temp file, fsync, rename) whenever it changed, at most
a few times a second. ``tessera status`` reads those files
(:func:`read_status`); the terminal view of ``tessera sync`` reads the object.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.api.errors import ConnectFailed, ConnectionLost
from protocol.errors import TesseraError, Unauthorized
from protocol.fs.atomic import write_atomic

STATUS_VERSION = 1
#: paths listed per category in the status file (the counts are always complete)
MAX_LISTED = 50
#: errors and warnings kept
MAX_ERRORS = 100

# daemon phases
STARTING = "starting"
SCANNING = "scanning"
PULLING = "pulling"
SYNCING = "syncing"
IDLE = "idle"  #: both sides agree
WAITING = "waiting"  #: work is left that failed and waits for its retry
OFFLINE = "offline"  #: the server cannot be reached
STOPPED = "stopped"

# the state of the link to the server (``SyncStatus.connection["state"]``), whatever the phase
ONLINE = "online"  #: the last request to the server was answered
UNREACHABLE = "offline"  #: the server cannot be reached
SERVER_ERROR = "error"  #: the server answers, with errors (its database is down, ...)
SIGNED_OUT = "signed_out"  #: this device's token no longer works: `tessera login`
#: actions whose errors are about the link, not a file: they clear when the link does
LINK_ACTIONS = ("pull", "longpoll", "sync")


@dataclass(slots=True)
class ActionError:
    """A planned action that failed; it is retried at ``retry_at`` (never, if ``permanent``)."""

    path: str
    action: str
    code: str
    message: str
    at: float
    attempts: int = 1
    retry_at: float | None = None
    permanent: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "action": self.action,
            "code": self.code,
            "message": self.message,
            "at": self.at,
            "attempts": self.attempts,
            "retry_at": self.retry_at,
            "permanent": self.permanent,
        }


@dataclass(slots=True)
class Transfer:
    path: str
    direction: str  #: "upload" or "download"
    phase: str = ""
    done: int = 0
    total: int = 0


class TransferProgress:
    """The library's :class:`~client.transfer.progress.Progress` for one transfer, reporting into the status."""

    def __init__(self, status: SyncStatus, transfer: Transfer) -> None:
        self._status = status
        self._transfer = transfer

    def phase(self, name: str, total: int) -> None:
        self._transfer.phase, self._transfer.total, self._transfer.done = name, total, 0
        self._status.touch()

    def advance(self, nbytes: int) -> None:
        self._transfer.done += nbytes
        self._status.touch()


@dataclass
class SyncStatus:
    """The daemon's current state (event loop only)."""

    root: str
    server: str = ""
    user: str = ""
    device: str = ""
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    phase: str = STARTING
    #: when both sides last agreed (the plan came out empty)
    last_sync: float | None = None
    pending_uploads: list[str] = field(default_factory=list)
    pending_downloads: list[str] = field(default_factory=list)
    #: other planned actions (folders, moves, deletes, conflict renames)
    pending_other: int = 0
    transfers: dict[int, Transfer] = field(default_factory=dict)
    #: conflicted copies present in the folder
    conflicts: list[str] = field(default_factory=list)
    #: uploads other devices started and have not committed yet
    elsewhere: list[str] = field(default_factory=list)
    errors: list[ActionError] = field(default_factory=list)
    last_error: ActionError | None = None
    #: local files moved out of a shared folder the user may not write (client.sync.plan.shares),
    #: newest last: ``{"path", "kept_as", "share", "reason", "message", "at"}``
    notices: list[dict[str, Any]] = field(default_factory=list)
    #: entries the scan skipped (symlinks, special files, refused names, ...)
    warnings: list[dict[str, str]] = field(default_factory=list)
    #: the link to the server: ``{"state": ONLINE | UNREACHABLE | SERVER_ERROR | SIGNED_OUT, ...}``
    #: with ``code``, ``message`` and ``since`` unless online (None: not known yet)
    connection: dict[str, Any] | None = None
    #: bumped on every change, so the writer knows when to save
    version: int = 0
    _next_transfer: int = 0

    def touch(self) -> None:
        self.version += 1

    def set_phase(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self.touch()

    @contextmanager
    def transfer(self, path: str, direction: str) -> Iterator[TransferProgress]:
        """Show a running transfer while the block runs."""
        self._next_transfer += 1
        tid = self._next_transfer
        t = self.transfers[tid] = Transfer(path, direction)
        self.touch()
        try:
            yield TransferProgress(self, t)
        finally:
            del self.transfers[tid]
            self.touch()

    def record_error(self, error: ActionError) -> None:
        self.last_error = error
        self.touch()

    def notice(self, path: str, kept_as: str, share: str, reason: str, message: str) -> None:
        """Say that the local file ``path`` of ``share`` was kept as ``kept_as``, and why."""
        entry = {"path": path, "kept_as": kept_as, "share": share, "reason": reason, "message": message}
        self.notices = [*self.notices, {**entry, "at": time.time()}][-MAX_ERRORS:]
        self.touch()

    def server_answered(self) -> None:
        """A request to the server succeeded: the link is up, and its error is gone."""
        if self.connection is None or self.connection["state"] != ONLINE:
            self.connection = {"state": ONLINE}
            if self.last_error is not None and self.last_error.action in LINK_ACTIONS:
                self.last_error = None
            self.touch()

    def server_failed(self, state: str, code: str, message: str) -> None:
        """A request to the server failed for the link's sake (``state``: UNREACHABLE, SERVER_ERROR
        or SIGNED_OUT); the first failure's time is kept while the state lasts."""
        since = self.connection.get("since") if self.connection and self.connection["state"] == state else None
        self.connection = {"state": state, "code": code, "message": message, "since": since or time.time()}
        self.touch()

    def server_failed_with(self, err: TesseraError) -> None:
        """:meth:`server_failed` for the error a request to the server raised."""
        if isinstance(err, Unauthorized):
            state = SIGNED_OUT
        elif isinstance(err, ConnectFailed | ConnectionLost):
            state = UNREACHABLE
        else:
            state = SERVER_ERROR
        self.server_failed(state, err.code, err.message)

    def all_clear(self) -> None:
        """Both sides agree and nothing failed: no error is shown any more."""
        if self.last_error is not None and not self.errors:
            self.last_error = None
            self.touch()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATUS_VERSION,
            "root": self.root,
            "server": self.server,
            "user": self.user,
            "device": self.device,
            "pid": self.pid,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "phase": self.phase,
            "last_sync": self.last_sync,
            "pending": {
                "uploads": len(self.pending_uploads),
                "downloads": len(self.pending_downloads),
                "other": self.pending_other,
                "upload_paths": self.pending_uploads[:MAX_LISTED],
                "download_paths": self.pending_downloads[:MAX_LISTED],
            },
            "transfers": [
                {"path": t.path, "direction": t.direction, "phase": t.phase, "done": t.done, "total": t.total}
                for t in self.transfers.values()
            ],
            "conflicts": {"count": len(self.conflicts), "paths": self.conflicts[:MAX_LISTED]},
            "elsewhere": {"count": len(self.elsewhere), "paths": self.elsewhere[:MAX_LISTED]},
            "errors": [e.to_json() for e in self.errors[:MAX_ERRORS]],
            "last_error": self.last_error.to_json() if self.last_error is not None else None,
            "warnings": self.warnings[:MAX_ERRORS],
            "notices": self.notices,
            "connection": self.connection,
        }


def write_status(path: Path, doc: dict[str, Any]) -> None:
    """Write the status document atomically (blocking)."""
    data = json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
    write_atomic(path, data, sync_dir=False)


def read_status(path: Path) -> dict[str, Any] | None:
    """A status file's document, or None if there is none or it is unreadable (blocking)."""
    try:
        doc = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != STATUS_VERSION:
        return None
    return doc
