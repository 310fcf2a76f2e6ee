"""The shared folders mounted in the synced tree, as the change feed said them (the ``mounts``
table of the state database).

The feed says a mount point as a folder entry with ``"shared": true`` and the user's ``role``
(docs/api.md, "Change feed"), again when the role changes; a mount that goes (the member was
removed, left, or the share was unshared) is a ``deleted`` entry at its path. The daemon needs
both: a viewer's share is read-only (:mod:`client.sync.plan.shares`), and a share that went must
leave the folder without taking along what the user had not uploaded yet. So a deletion does not
forget the mount: it is kept as *gone* until the daemon has emptied its folder
(:meth:`~client.sync.state.database.SyncState.drop_mount`).

The functions here run inside the state's transactions (:meth:`SyncState.apply_changes`): they
take its connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from protocol import paths

from .schema import subtree_args, subtree_clause


@dataclass(frozen=True, slots=True)
class MountRecord:
    """A shared folder mounted at ``path``: the user's ``role`` there; ``gone`` once the feed said
    the mount went (its folder is still to be emptied)."""

    path: str
    role: str
    gone: bool

    @property
    def key(self) -> str:
        return paths.path_key(self.path)


def note(db: sqlite3.Connection, kind: str, path: str, e: Mapping[str, Any]) -> None:
    """Take one feed entry (``kind`` at ``path``) into the mounts."""
    key = paths.path_key(path)
    role = e.get("role")
    if kind == "deleted":
        db.execute(f"UPDATE mounts SET gone = 1 WHERE {subtree_clause()}", subtree_args(key))
    elif kind == "folder" and e.get("shared") and isinstance(role, str):
        db.execute(
            "INSERT OR REPLACE INTO mounts (path_key, path, role, gone) VALUES (?, ?, ?, 0)", (key, path, role)
        )
    elif kind != "pending":  # an ordinary entry there: no mount (any more)
        db.execute("DELETE FROM mounts WHERE path_key = ?", (key,))


def relisted(db: sqlite3.Connection) -> None:
    """A full listing starts: every mount is gone unless the listing says it again."""
    db.execute("UPDATE mounts SET gone = 1")

