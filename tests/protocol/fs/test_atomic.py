"""Atomic writes: the old content or the whole new one, never a temp file left behind."""

from __future__ import annotations

import os
import stat

import pytest

from protocol.fs import atomic


def test_write_atomic_replaces_the_file_whole_with_mode_0600(tmp_path):
    target = tmp_path / "doc.json"
    target.write_bytes(b"old")
    atomic.write_atomic(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["doc.json"]


@pytest.mark.parametrize("sync_dir", [True, False])
def test_a_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path, monkeypatch, sync_dir):
    target = tmp_path / "doc.json"
    target.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic.write_atomic(target, b"new", sync_dir=sync_dir)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["doc.json"]


def test_temp_files_are_dot_files_named_after_their_target(tmp_path):
    final = tmp_path / "abc"
    f, tmp = atomic.create_temp(final)
    try:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".abc.") and tmp.name.endswith(".tmp")
        assert atomic.temp_name(final).name.startswith(".abc.")
        f.write(b"streamed")
        atomic.publish(f, tmp, final)
    except BaseException:
        atomic.discard(f, tmp)
        raise
    assert final.read_bytes() == b"streamed"
    assert not tmp.exists()


def test_discard_removes_the_temp_file(tmp_path):
    f, tmp = atomic.create_temp(tmp_path / "abc")
    f.write(b"half")
    atomic.discard(f, tmp)
    atomic.discard(f, tmp)  # twice is harmless
    assert os.listdir(tmp_path) == []
