"""One daemon per synced folder."""

from __future__ import annotations

import os

import pytest

from client.sync.errors import SyncLocked
from client.sync.lock import FolderLock, is_locked
from client.sync.settings import FolderFiles


def test_one_lock_per_folder(tmp_path):
    files = FolderFiles.of(tmp_path / "config", tmp_path / "folder")
    files.state_dir.mkdir(parents=True)
    assert not is_locked(files.lock)
    with FolderLock(files.lock):
        assert is_locked(files.lock)
        with pytest.raises(SyncLocked, match=f"pid {os.getpid()}"):
            FolderLock(files.lock).acquire()
    assert not is_locked(files.lock)
    other = FolderFiles.of(tmp_path / "config", tmp_path / "other")
    assert other.state_dir != files.state_dir and other.state_dir.parent == files.state_dir.parent
