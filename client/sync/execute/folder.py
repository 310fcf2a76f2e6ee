"""What every part of the executor acts on: one synced folder, its trees, the server, and how."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from client.sync.local.watch import OwnWrites
from client.sync.remote.feed import PendingUploads
from client.sync.state.database import SyncState
from client.sync.status import SyncStatus
from client.transfer.concurrency import Offload

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient


@dataclass(slots=True)
class SyncedFolder:
    """The folder at ``root`` and what acting on it takes; shared by the executor's parts."""

    root: Path
    state: SyncState
    client: TesseraClient
    #: transfers in progress are shown here
    status: SyncStatus
    #: uploads this daemon starts are noted here (their pending entries are not news)
    pending: PendingUploads
    #: runs a blocking call on the daemon's worker threads
    offload: Offload
    #: files renamed into place: their watcher events are not news
    own_writes: OwnWrites | None = None
    #: a download failed: its temp file may have been carried off (a folder renamed under it)
    #: where the download could not remove it; the daemon sweeps them before its next scan
    stray_temp_files: bool = False
