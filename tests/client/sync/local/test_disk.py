"""Local file operations of the sync executor."""

from __future__ import annotations

import errno
import os

import pytest

from client.sync.local import disk
from client.sync.local.ignore import IgnoreRules
from client.sync.plan.tree import FILE, FOLDER
from client.transfer.download import file_writes


def test_rename_never_replaces(tmp_path):
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(disk.LocalChanged):
        disk.rename(tmp_path, "/a", "/b", FILE)
    with pytest.raises(disk.LocalChanged):
        disk.rename(tmp_path, "/a", "/a2", FOLDER)  # not a folder
    with pytest.raises(disk.LocalChanged):
        disk.rename(tmp_path, "/missing", "/c", FILE)
    disk.rename(tmp_path, "/a", "/A", FILE)  # case-only
    assert sorted(os.listdir(tmp_path)) == ["A", "b"]
    assert (tmp_path / "A").read_text() == "a" and (tmp_path / "b").read_text() == "b"


def test_rename_noreplace_falls_back_without_renameat2(tmp_path, monkeypatch):
    monkeypatch.setattr(file_writes, "_renameat2", None)
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(FileExistsError):
        disk.rename_noreplace(tmp_path / "a", tmp_path / "b")
    disk.rename_noreplace(tmp_path / "a", tmp_path / "c")
    assert sorted(os.listdir(tmp_path)) == ["b", "c"]


@pytest.mark.parametrize("how", ["renameat2", "link", "check and rename"])
def test_link_no_replace_never_replaces(tmp_path, monkeypatch, how):
    if how == "renameat2":
        if file_writes._renameat2 is None:
            pytest.skip("no renameat2 here")
        monkeypatch.setattr(file_writes.os, "link", None)  # one renameat2 does it all
    else:
        monkeypatch.setattr(file_writes, "_renameat2", None)
    if how == "check and rename":

        def no_links(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(file_writes.os, "link", no_links)
    (tmp_path / "tmp").write_text("new")
    (tmp_path / "there").write_text("old")
    with pytest.raises(FileExistsError):
        file_writes.link_no_replace(tmp_path / "tmp", tmp_path / "there")
    assert (tmp_path / "there").read_text() == "old" and (tmp_path / "tmp").exists()
    file_writes.link_no_replace(tmp_path / "tmp", tmp_path / "new")
    assert sorted(os.listdir(tmp_path)) == ["new", "there"]
    assert (tmp_path / "new").read_text() == "new"


def test_temp_files_of_killed_downloads_are_removed_but_nothing_else(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".tessera-tmp-0123").write_bytes(b"partial")
    (tmp_path / ".tessera-tmp-4567").write_bytes(b"partial")
    (tmp_path / "keep.txt").write_text("keep")
    os.symlink(tmp_path / "keep.txt", tmp_path / ".tessera-tmp-link")
    state = tmp_path / "state"
    state.mkdir()
    (state / ".tessera-tmp-89ab").write_bytes(b"not ours to clean")
    rules = IgnoreRules.load(tmp_path, state_dir=state)
    removed = disk.remove_temp_files(tmp_path, rules)
    assert sorted(p.name for p in removed) == [".tessera-tmp-0123", ".tessera-tmp-4567"]
    assert os.path.islink(tmp_path / ".tessera-tmp-link") and (state / ".tessera-tmp-89ab").exists()


def test_folder_delete_clears_junk_and_keeps_what_is_ignored(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "junk" / "notes.txt~").write_bytes(b"x")
    assert disk.delete_folder(tmp_path, "/junk", IgnoreRules()) is None
    assert not (tmp_path / "junk").exists()

    (tmp_path / "proj" / "build").mkdir(parents=True)
    kept = disk.delete_folder(tmp_path, "/proj", IgnoreRules(("build/",)))
    assert kept == disk.FolderKept(("build",)) and (tmp_path / "proj" / "build").is_dir()

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "new.txt").write_text("new")
    with pytest.raises(disk.LocalChanged):
        disk.delete_folder(tmp_path, "/busy", IgnoreRules())
    assert disk.delete_folder(tmp_path, "/gone", IgnoreRules()) is None


def test_a_quick_check_trusts_a_racy_row_that_a_full_check_hashes_again(tmp_path):
    from client.sync.local.scan import scan_blocking
    from client.sync.state.database import SyncState

    root = tmp_path / "root"
    root.mkdir()
    f = root / "f.bin"
    f.write_bytes(b"A" * 1000)
    with SyncState(tmp_path / "state") as state:
        scan_blocking(root, state, IgnoreRules())  # just written: the row is racy
        expected = state.local_entry("/f.bin").content_hash
        st = f.stat()
        f.write_bytes(b"B" * 1000)  # same size, and the same mtime put back: only hashing tells
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert disk.file_matches(root, state, "/f.bin", expected, rehash=False)
        assert not disk.file_matches(root, state, "/f.bin", expected)
        with pytest.raises(disk.LocalChanged):
            disk.check_file(root, state, "/f.bin", expected)
        assert not disk.file_matches(root, state, "/f.bin", "0" * 64, rehash=False)  # the row says otherwise


def test_a_local_block_carries_its_files_stamp_only_where_the_row_is_not_racy(tmp_path):
    import hashlib

    from client.sync.local.scan import scan_blocking
    from client.sync.state.database import SyncState
    from client.transfer.filehash import FileStamp
    from protocol.messages.blocks import RemoteBlock

    root = tmp_path / "root"
    root.mkdir()
    data = os.urandom(1000)
    block = RemoteBlock(
        0, "0" * 32, 1000, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), "g"
    )
    f = root / "f.bin"
    f.write_bytes(data)
    with SyncState(tmp_path / "state") as state:
        scan_blocking(root, state, IgnoreRules())  # just written: the row is racy
        racy = disk.find_local_block(root, state, block)
        assert racy is not None and racy.path == f and racy.xxh3_64 is not None and racy.stamp is None
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))  # written long ago
        scan_blocking(root, state, IgnoreRules())
        settled = disk.find_local_block(root, state, block)
        assert settled is not None and settled.stamp == FileStamp.of(f.stat())
        assert settled.xxh3_64 == racy.xxh3_64
