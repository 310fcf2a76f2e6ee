"""Saved credentials: where they live, their mode, atomic writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from client.api.errors import NotLoggedIn
from client.cli.credentials import FILENAME, Credentials, CredentialStore, config_dir

CREDS = Credentials(server="http://127.0.0.1:8080", user="alice", device="laptop", token="tsr_secret")


def test_config_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir({}) == tmp_path / "home" / ".config" / "tessera"
    assert config_dir({"XDG_CONFIG_HOME": "/xdg"}) == Path("/xdg/tessera")
    assert config_dir({"XDG_CONFIG_HOME": "relative"}) == tmp_path / "home" / ".config" / "tessera"
    assert config_dir({"XDG_CONFIG_HOME": "/xdg", "TESSERA_CONFIG_DIR": "/explicit"}) == Path("/explicit")


def test_save_load_delete(tmp_path):
    store = CredentialStore(tmp_path / "cfg")
    assert store.load() is None
    with pytest.raises(NotLoggedIn):
        store.require()
    store.save(CREDS)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert store.load() == CREDS
    store.save(Credentials(CREDS.server, CREDS.user, CREDS.device, "tsr_other"))
    assert store.load().token == "tsr_other"
    assert [p.name for p in store.directory.iterdir()] == [FILENAME]  # no temp file left behind
    assert store.delete() is True
    assert store.delete() is False
    assert store.load() is None


def test_replacing_keeps_mode_and_leaves_no_temp(tmp_path):
    store = CredentialStore(tmp_path)
    store.save(CREDS)
    store.path.chmod(0o644)  # even if someone loosened it, a new save is 0600 again
    other = Credentials(CREDS.server, CREDS.user, CREDS.device, "tsr_new")
    store.save(other)
    assert store.load() == other
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]


@pytest.mark.parametrize("content", ["not json", "{}", '{"version": 1, "server": "x"}', "[]"])
def test_corrupt_file_asks_for_login(tmp_path, content):
    store = CredentialStore(tmp_path)
    store.path.write_text(content)
    with pytest.raises(NotLoggedIn, match="tessera login"):
        store.load()
