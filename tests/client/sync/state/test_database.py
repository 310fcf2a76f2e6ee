"""The sync state database: schema, trees, block index, feed pages, moves, uploads."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from client.sync.plan.tree import FILE, FOLDER, Node
from client.sync.state.database import SyncState
from client.sync.state.schema import (
    SCHEMA_VERSION,
    BlockRecord,
    LocalEntry,
    RemoteEntry,
    StateError,
    UploadRecord,
)
from protocol.errors import ProtocolError


@pytest.fixture
def state(tmp_path):
    with SyncState(tmp_path / "config") as s:
        yield s


def blocks(*shas: str) -> list[BlockRecord]:
    return [BlockRecord(i, f"{i:016x}", sha, "m" * 32, 10) for i, sha in enumerate(shas)]


def test_creates_a_versioned_wal_database(tmp_path):
    with SyncState(tmp_path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s._query("PRAGMA journal_mode")[0][0] == "wal"
        tables = {r[0] for r in s._query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "local", "remote", "synced", "block_index", "uploads"} <= tables


def test_reopening_keeps_the_data(tmp_path):
    with SyncState(tmp_path) as s:
        s.set_device("laptop")
        s.record_synced(Node(FILE, "/x", "h1", 3))
    with SyncState(tmp_path) as s:
        assert s.device == "laptop"
        assert s.nodes("synced") == {"/x": Node(FILE, "/x", "h1", 3)}


def test_a_newer_schema_is_refused(tmp_path):
    SyncState(tmp_path).close()
    db = sqlite3.connect(tmp_path / "sync.sqlite3")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="newer"):
        SyncState(tmp_path)


def test_meta_values(state):
    assert state.cursor is None
    state.set_meta("cursor", "abc")
    assert state.cursor == "abc"
    state.set_meta("cursor", None)
    assert state.get_meta("cursor") is None


def test_change_feed_pages_update_the_remote_tree_and_cursor(state):
    state.apply_changes(
        [
            {"kind": "folder", "path": "/Docs", "name": "Docs"},
            {
                "kind": "file",
                "path": "/Docs/a.txt",
                "name": "a.txt",
                "rev": 1,
                "size": 5,
                "content_hash": "h1",
            },
            {"kind": "file", "path": "/b", "name": "b", "rev": 2, "size": 1, "content_hash": "h2"},
        ],
        "c1",
        reset=True,
    )
    assert state.cursor == "c1"
    n = state.apply_changes(
        [
            {"kind": "pending", "path": "/b"},
            {"kind": "deleted", "path": "/docs", "name": "docs"},
            {"kind": "file", "path": "/b", "name": "b", "rev": 3, "size": 2, "content_hash": "h3"},
        ],
        "c2",
    )
    assert n == 2 and state.cursor == "c2"
    assert state.nodes("remote") == {"/b": Node(FILE, "/b", "h3", 3)}
    assert state.remote_entry("/B") == RemoteEntry("/b", FILE, 3, 2, "h3")
    state.apply_changes([{"kind": "folder", "path": "/new", "name": "new"}], "c3", reset=True)
    assert set(state.nodes("remote")) == {"/new"}


def test_a_failed_page_changes_nothing(state):
    state.apply_changes([{"kind": "folder", "path": "/a", "name": "a"}], "c1")
    page = [
        {"kind": "folder", "path": "/b", "name": "b"},
        {"kind": "file", "path": "/c", "name": "c", "rev": 1},
    ]
    with pytest.raises(ProtocolError, match="content_hash"):
        state.apply_changes(page, "c2")
    assert set(state.nodes("remote")) == {"/a"} and state.cursor == "c1"


@pytest.mark.parametrize(
    "entry",
    [
        {"kind": "symlink", "path": "/x"},
        {"kind": "folder", "path": "x"},
        {"kind": "folder", "path": "/"},
        {"kind": "file", "path": "/x", "rev": True, "content_hash": "h"},
    ],
)
def test_malformed_feed_entries_are_protocol_errors(state, entry):
    with pytest.raises(ProtocolError):
        state.apply_changes([entry], "c")


def test_local_entries_and_block_index(state):
    entry = LocalEntry("/A.bin", FILE, 20, 123, 7, "hA", 1.0)
    state.put_local(entry, blocks("s0", "s1"))
    assert state.local_entry("/a.bin") == entry
    assert state.nodes("local") == {"/a.bin": Node(FILE, "/A.bin", "hA")}
    assert [b.sha256 for b in state.blocks("/a.bin")] == ["s0", "s1"]
    assert state.find_local_block("s1")[:2] == ("/A.bin", 1)
    assert state.find_local_block("nope") is None
    state.put_local(LocalEntry("/A.bin", FILE, 20, 124, 7, "hA", 2.0))  # no block list: index kept
    assert len(state.blocks("/a.bin")) == 2
    state.delete("local", "/a.bin")
    assert state.blocks("/a.bin") == [] and state.find_local_block("s0") is None


def test_apply_scan_is_one_transaction(state):
    state.put_local(LocalEntry("/old", FILE, 1, 1, 1, "h", 1.0), blocks("s"))
    state.apply_scan([(LocalEntry("/new", FILE, 1, 1, 2, "h", 1.0), blocks("s"))], ["/old"])
    assert set(state.local_entries()) == {"/new"}
    with pytest.raises(sqlite3.IntegrityError):
        state.apply_scan(
            [(LocalEntry("/x", FILE, 1, 1, 3, "h", 1.0), [*blocks("s"), *blocks("t")])], ["/new"]
        )
    assert set(state.local_entries()) == {"/new"}


def test_move_carries_the_subtree_keys_paths_and_blocks(state):
    state.put_local(LocalEntry("/d", FOLDER, scanned_at=1.0))
    state.put_local(LocalEntry("/d/e", FOLDER, scanned_at=1.0))
    state.put_local(LocalEntry("/d/e/x", FILE, 1, 1, 1, "h", 1.0), blocks("s"))
    state.put_local(LocalEntry("/dd", FILE, 1, 1, 2, "h2", 1.0))
    assert state.move("local", "/D", "/n/m") == 3
    assert sorted(e.path for e in state.local_entries().values()) == ["/dd", "/n/m", "/n/m/e", "/n/m/e/x"]
    assert state.find_local_block("s")[:2] == ("/n/m/e/x", 0)
    assert state.move("local", "/n/m", "/n/M") == 3  # case only
    assert state.local_entry("/n/m/e/x").path == "/n/M/e/x"
    with pytest.raises(StateError, match="exists"):
        state.move("local", "/n/M", "/dd")
    with pytest.raises(StateError, match="into itself"):
        state.move("local", "/n/M", "/n/M/e/z")
    assert state.move("local", "/missing", "/z") == 0


def test_synced_tree_and_subtree_delete(state):
    for node in (Node(FOLDER, "/a"), Node(FILE, "/a/x", "h", 1), Node(FILE, "/ab", "h", 2)):
        state.record_synced(node)
    assert state.delete("synced", "/a", subtree=True) == 2
    assert set(state.nodes("synced")) == {"/ab"}
    state.forget_synced("/AB")
    assert state.count("synced") == 0


def test_unknown_tree_is_refused(state):
    with pytest.raises(ValueError):
        state.nodes("other")  # type: ignore[arg-type]


def test_upload_sessions(state):
    rec = UploadRecord("/Big.iso", "up1", 10, 99, "h", created_at=100.0)
    state.save_upload(rec)
    state.save_upload(UploadRecord("/other", "up2", 1, 1, "h", created_at=5000.0))
    assert state.get_upload("/big.iso") == rec
    assert [u.upload_id for u in state.uploads()] == ["up1", "up2"]
    assert state.drop_uploads_before(1000.0) == 1
    state.drop_upload("/other")
    assert state.uploads() == []


async def test_usable_from_worker_threads(state):
    async def put(i: int) -> None:
        await asyncio.to_thread(state.record_synced, Node(FILE, f"/f{i}", "h", i))

    await asyncio.gather(*(put(i) for i in range(50)))
    assert await asyncio.to_thread(state.count, "synced") == 50
