"""Scanning a folder into the local tree: incremental hashing, warnings, unstable files."""

from __future__ import annotations

import os
import time
import unicodedata

import pytest
import xxhash

from client.sync.local import hashing as sync_hashing
from client.sync.local import scan as sync_scan
from client.sync.local.ignore import IgnoreRules
from client.sync.local.scan import (
    W_BAD_NAME,
    W_CASE_CLASH,
    W_SPECIAL,
    W_SYMLINK,
    W_UNREADABLE,
    scan,
    scan_blocking,
)
from client.sync.plan.tree import FILE, FOLDER
from client.sync.state.database import SyncState
from protocol.hashing import BLOCK_SIZE, content_hash, hash_block

MiB = 1024 * 1024


def later() -> float:
    """A clock past the racy window, so files written just now count as settled."""
    return time.time() + 60


def expected_hash(data: bytes) -> str:
    return content_hash(hash_block(data[i : i + BLOCK_SIZE]).sha256 for i in range(0, len(data), BLOCK_SIZE))


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def state(tmp_path):
    with SyncState(tmp_path / "config") as s:
        yield s


def run(root, state, rules=None, **kw):
    return scan_blocking(root, state, rules or IgnoreRules(), **kw)


def test_first_scan_records_files_and_folders(root, state):
    (root / "Docs" / "deep").mkdir(parents=True)
    (root / "Docs" / "a.txt").write_bytes(b"hello")
    (root / "Docs" / "deep" / "empty").write_bytes(b"")
    result = run(root, state, clock=later)
    assert result.created == ("/Docs", "/Docs/a.txt", "/Docs/deep", "/Docs/deep/empty")
    assert result.modified == result.deleted == result.unstable == () and result.warnings == ()
    nodes = state.nodes("local")
    assert nodes["/docs/a.txt"].content_hash == expected_hash(b"hello")
    assert nodes["/docs/deep/empty"].content_hash == content_hash([])
    assert nodes["/docs"].kind == FOLDER
    entry = state.local_entry("/Docs/a.txt")
    st = os.stat(root / "Docs" / "a.txt")
    assert (entry.size, entry.mtime_ns, entry.inode) == (5, st.st_mtime_ns, st.st_ino)


def test_unchanged_files_are_not_read_again(root, state):
    (root / "a").write_bytes(b"x" * 100)
    run(root, state, clock=later)
    result = run(root, state, clock=later)
    assert not result.changed and result.stats.files_hashed == 0


def test_files_written_just_before_the_scan_are_hashed_again_next_time(root, state):
    (root / "a").write_bytes(b"x" * 100)
    mtime_ns = 1_700_000_000_123_456_789  # a sub-second part: a fine-grained file system
    os.utime(root / "a", ns=(mtime_ns, mtime_ns))
    run(root, state, clock=lambda: (mtime_ns + 50_000_000) / 1e9)  # hashed 50 ms after the write
    assert run(root, state, clock=later).stats.files_hashed == 1
    assert run(root, state, clock=later).stats.files_hashed == 0


@pytest.mark.parametrize(
    ("mtime_ns", "hashed_after_ms", "racy"),
    [
        (1_700_000_000_123_456_789, 0, True),
        (1_700_000_000_123_456_789, 99, True),
        (1_700_000_000_123_456_789, 150, False),
        (1_700_000_000_000_000_000, 150, True),  # whole seconds: FAT, HFS+, some network mounts
        (1_700_000_000_000_000_000, 1_999, True),
        (1_700_000_000_000_000_000, 2_001, False),
        (None, 10_000, True),
    ],
)
def test_the_racy_window_follows_the_timestamp_granularity(mtime_ns, hashed_after_ms, racy):
    base = mtime_ns if mtime_ns is not None else 1_700_000_000_000_000_000
    assert sync_scan.is_racy((base + hashed_after_ms * 1_000_000) / 1e9, mtime_ns) is racy


def test_only_changed_blocks_get_md5_and_sha256(root, state):
    data = bytearray(os.urandom(2 * BLOCK_SIZE + MiB))
    (root / "big").write_bytes(data)
    first = run(root, state, clock=later)
    assert first.stats.blocks_hashed == 3
    data[BLOCK_SIZE + 10] ^= 0xFF  # one byte in the middle block
    with open(root / "big", "r+b") as f:
        f.seek(BLOCK_SIZE + 10)
        f.write(bytes([data[BLOCK_SIZE + 10]]))
    result = run(root, state, clock=later)
    assert result.modified == ("/big",)
    assert (result.stats.blocks_hashed, result.stats.blocks_reused) == (1, 2)
    assert state.nodes("local")["/big"].content_hash == expected_hash(bytes(data))
    assert [b.sha256 for b in state.blocks("/big")] == [
        hash_block(data[i : i + BLOCK_SIZE]).sha256 for i in range(0, len(data), BLOCK_SIZE)
    ]


def test_a_grown_file_hashes_only_the_new_tail(root, state):
    (root / "log").write_bytes(b"a" * BLOCK_SIZE)
    run(root, state, clock=later)
    with open(root / "log", "ab") as f:
        f.write(b"b" * 10)
    result = run(root, state, clock=later)
    assert (result.stats.blocks_hashed, result.stats.blocks_reused) == (1, 1)
    assert state.nodes("local")["/log"].content_hash == expected_hash(b"a" * BLOCK_SIZE + b"b" * 10)


def test_blocks_can_be_found_by_sha256_for_download_reuse(root, state):
    block = os.urandom(1000)
    (root / "f").write_bytes(block)
    run(root, state, clock=later)
    assert state.find_local_block(hash_block(block).sha256)[:3] == ("/f", 0, xxhash.xxh3_64_hexdigest(block))


def test_deleted_and_replaced_entries(root, state):
    (root / "d").mkdir()
    (root / "d" / "x").write_bytes(b"1")
    (root / "f").write_bytes(b"2")
    run(root, state, clock=later)
    (root / "d" / "x").unlink()
    (root / "d").rmdir()
    (root / "f").unlink()
    (root / "f").mkdir()
    result = run(root, state, clock=later)
    assert result.deleted == ("/d", "/d/x")
    assert result.modified == ("/f",)
    assert state.nodes("local")["/f"].kind == FOLDER


def test_case_only_rename_on_disk_changes_the_display_path(root, state):
    (root / "readme").write_bytes(b"r")
    run(root, state, clock=later)
    os.rename(root / "readme", root / "README")
    result = run(root, state, clock=later)
    assert result.modified == ("/README",) and result.stats.files_hashed == 0
    assert state.nodes("local")["/readme"].path == "/README"


def test_symlinks_and_special_files_are_skipped_with_a_warning(root, state):
    (root / "target").write_bytes(b"t")
    os.symlink(root / "target", root / "link")
    os.symlink(root, root / "dirlink")
    os.mkfifo(root / "fifo")
    result = run(root, state, clock=later)
    assert {(w.path, w.code) for w in result.warnings} == {
        ("/link", W_SYMLINK),
        ("/dirlink", W_SYMLINK),
        ("/fifo", W_SPECIAL),
    }
    assert set(state.nodes("local")) == {"/target"}


@pytest.mark.parametrize("name", ["trailing ", "ctrl\x01char"])
def test_names_the_server_refuses_are_reported(root, state, name):
    (root / name).write_bytes(b"x")
    result = run(root, state, clock=later)
    assert [(w.path, w.code) for w in result.warnings] == [("/" + name, W_BAD_NAME)]
    assert state.nodes("local") == {}


def test_non_nfc_names_on_a_normalising_agnostic_fs_are_reported(root, state):
    nfd = unicodedata.normalize("NFD", "café")
    (root / nfd).write_bytes(b"x")
    result = run(root, state, clock=later)
    if os.path.exists(root / "café"):  # the file system normalises (macOS): synced under the NFC name
        assert result.created == ("/café",)
    else:
        assert [w.code for w in result.warnings] == [W_BAD_NAME]


def test_names_that_differ_only_in_case_keep_the_first(root, state):
    (root / "A").write_bytes(b"1")
    if os.path.exists(root / "a"):
        pytest.skip("case-insensitive file system")
    (root / "a").write_bytes(b"2")
    result = run(root, state, clock=later)
    assert result.created == ("/A",)
    assert [(w.path, w.code) for w in result.warnings] == [("/a", W_CASE_CLASH)]


def test_ignored_entries_are_not_recorded(root, state, tmp_path):
    (root / ".tesseraignore").write_text("build/\n*.o\n")
    (root / "build").mkdir()
    (root / "build" / "out").write_bytes(b"x")
    (root / "main.o").write_bytes(b"x")
    (root / ".DS_Store").write_bytes(b"x")
    (root / "notes.txt.swp").write_bytes(b"x")
    (root / ".tessera-tmp-123").write_bytes(b"x")
    (root / "keep.c").write_bytes(b"x")
    state_dir = root / ".state"
    with SyncState(state_dir) as inner:
        rules = IgnoreRules.load(root, state_dir=state_dir)
        result = scan_blocking(root, inner, rules, clock=later)
    assert result.created == ("/.tesseraignore", "/keep.c")


def test_a_file_changing_while_hashed_is_unstable_and_retried(root, state, monkeypatch):
    target = root / "growing"
    target.write_bytes(b"a" * 1000)
    real = sync_hashing._read_block

    def read_and_append(f, view):
        n = real(f, view)
        with open(target, "ab") as g:
            g.write(b"more")
        return n

    monkeypatch.setattr(sync_hashing, "_read_block", read_and_append)
    result = run(root, state, clock=later)
    assert result.unstable == ("/growing",) and result.created == ()
    assert state.nodes("local") == {}
    monkeypatch.setattr(sync_hashing, "_read_block", real)
    result = run(root, state, clock=later)
    assert result.created == ("/growing",) and result.unstable == ()


def test_an_unstable_file_keeps_its_previous_row(root, state, monkeypatch):
    target = root / "f"
    target.write_bytes(b"v1")
    run(root, state, clock=later)
    before = state.local_entry("/f")
    target.write_bytes(b"v2 longer")

    def unstable(*a, **k):
        raise sync_scan.FileUnstable("changing")

    monkeypatch.setattr(sync_scan, "hash_local_file", unstable)
    result = run(root, state, clock=later)
    assert result.unstable == ("/f",) and not result.changed
    assert state.local_entry("/f") == before


def test_an_unreadable_folder_keeps_its_previous_entries(root, state, monkeypatch):
    (root / "d").mkdir()
    (root / "d" / "x").write_bytes(b"1")
    run(root, state, clock=later)
    real = os.scandir

    def refuse(path="."):
        if os.fspath(path).endswith(os.sep + "d"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", refuse)
    result = run(root, state, clock=later)
    assert [(w.path, w.code) for w in result.warnings] == [("/d", W_UNREADABLE)]
    assert result.deleted == ()
    assert set(state.nodes("local")) == {"/d", "/d/x"}


def test_an_unreadable_file_is_not_reported_deleted(root, state, monkeypatch):
    (root / "f").write_bytes(b"1")
    run(root, state, clock=later)
    (root / "f").write_bytes(b"22")

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sync_scan, "hash_local_file", refuse)
    result = run(root, state, clock=later)
    assert [w.code for w in result.warnings] == [W_UNREADABLE]
    assert not result.changed and set(state.nodes("local")) == {"/f"}


async def test_async_scan_runs_in_a_thread(root, state):
    (root / "a").write_bytes(b"a")
    result = await scan(root, state, IgnoreRules(), clock=later)
    assert result.created == ("/a",)
    assert state.nodes("local")["/a"].kind == FILE
