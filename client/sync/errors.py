"""Errors only the sync daemon raises (shown by the CLI dispatcher like any other)."""

from __future__ import annotations

from protocol.errors import ProtocolError, TesseraError


class SyncLocked(TesseraError):
    """Another `tessera sync` is already running for this folder."""

    code = "sync_running"
    status = 409
    exit_code = 1


class FolderGone(TesseraError):
    """The synced folder was removed, moved or replaced; syncing stopped so nothing is deleted."""

    code = "folder_gone"
    status = 409
    exit_code = 1


class SyncStateUnusable(TesseraError):
    """The sync state database of this folder cannot be used."""

    code = "sync_state"
    status = 500
    exit_code = 1


class UnsafePath(ProtocolError):
    """The server named a path outside the synced folder; it is refused."""

    code = "unsafe_path"
    retryable = False
