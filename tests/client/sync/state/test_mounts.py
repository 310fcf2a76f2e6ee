"""The shared folders mounted in the synced tree, as the change feed says them (client.sync.state.mounts)."""

from __future__ import annotations

import sqlite3

import pytest

from client.sync.state.database import META_CURSOR, SyncState
from client.sync.state.mounts import MountRecord
from client.sync.state.schema import DB_NAME, MIGRATIONS


@pytest.fixture
def state(tmp_path):
    with SyncState(tmp_path / "config") as s:
        yield s

MOUNT = {"kind": "folder", "path": "/Team", "shared": True, "ns_id": 7, "role": "editor"}


def test_the_feed_s_mount_points_roles_and_removals(state):
    state.apply_changes([MOUNT, {"kind": "file", "path": "/Team/a", "rev": 1, "content_hash": "h"}], "c1")
    assert state.mounts() == [MountRecord("/Team", "editor", False)]
    state.apply_changes([{**MOUNT, "role": "viewer"}], "c2")  # a role change says the mount again
    assert state.mounts() == [MountRecord("/Team", "viewer", False)]
    state.apply_changes([{"kind": "deleted", "path": "/Team"}], "c3")  # gone, not forgotten
    assert state.mounts() == [MountRecord("/Team", "viewer", True)]
    state.apply_changes([MOUNT], "c4")  # mounted there again
    assert state.mounts() == [MountRecord("/Team", "editor", False)]
    state.apply_changes([{"kind": "folder", "path": "/Team"}], "c5")  # an ordinary folder now (unshared, the owner)
    assert state.mounts() == []
    state.apply_changes([MOUNT, {"kind": "pending", "path": "/Team"}], "c6")
    state.drop_mount("/team")
    assert state.mounts() == []


def test_a_deleted_parent_takes_the_mount_and_a_listing_keeps_only_what_it_says(state):
    state.apply_changes([{**MOUNT, "path": "/P/Team"}, {**MOUNT, "path": "/Other", "role": "owner"}], "c1")
    state.apply_changes([{"kind": "deleted", "path": "/P"}], "c2")
    assert state.mounts() == [MountRecord("/Other", "owner", False), MountRecord("/P/Team", "editor", True)]
    state.apply_changes([{**MOUNT, "path": "/P/Team"}], "c3", reset=True)
    assert state.mounts() == [MountRecord("/Other", "owner", True), MountRecord("/P/Team", "editor", False)]


def test_version_1_state_gets_the_table_and_lists_again(tmp_path):
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.executescript(MIGRATIONS[1])
    db.executescript("INSERT INTO meta VALUES ('cursor', 'c2.old'), ('device', 'laptop'); PRAGMA user_version = 1;")
    db.close()
    with SyncState(tmp_path) as s:
        assert s.get_meta(META_CURSOR) is None and s.device == "laptop"
        assert s.mounts() == []
