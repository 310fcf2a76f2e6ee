"""Ignore rules: .tesseraignore (gitignore syntax) and the built-in ignores."""

from __future__ import annotations

import pytest

from client.sync.local.ignore import IGNORE_FILE, TEMP_PREFIX, IgnoreRules, is_builtin_ignored
from client.sync.plan.tree import FILE, FOLDER, Node


@pytest.mark.parametrize(
    "name",
    [
        ".notes.txt.swp",
        "a.swx",
        "draft~",
        ".#lock",
        "#autosave#",
        ".DS_Store",
        "thumbs.DB",
        "Desktop.ini",
        TEMP_PREFIX + "abc123",
    ],
)
def test_builtin_ignores(name):
    assert is_builtin_ignored(name)
    # no .tesseraignore, one with comments only (both: the built-ins alone), one with rules
    for rules in (IgnoreRules(), IgnoreRules(("# nothing", "")), IgnoreRules(("*.log",))):
        assert rules.is_ignored(f"/sub/{name}", False)
        assert rules.is_ignored(f"{name}/inside", False)  # also as a folder, and everything below it
        assert rules.is_ignored(f"/a/{name}/b/c.txt", False)


@pytest.mark.parametrize("name", ["notes.txt", "swp", "a~b", "x#", ".tesseraignore", "tessera-tmp-x"])
def test_ordinary_names_are_kept(name):
    assert not IgnoreRules().is_ignored(name, False)
    assert not IgnoreRules(("# nothing",)).is_ignored(f"/a/{name}/b", False)


def test_gitignore_syntax():
    rules = IgnoreRules(("build/", "*.log", "!keep.log", "/top.txt", "# comment", "", "docs/**/*.pdf"))
    assert rules.is_ignored("/build", True)
    assert not rules.is_ignored("/build", False)  # "build/" only matches folders
    assert rules.is_ignored("/a/build/x.c", False)
    assert rules.is_ignored("/a/debug.log", False)
    assert not rules.is_ignored("/a/keep.log", False)
    assert rules.is_ignored("/top.txt", False)
    assert not rules.is_ignored("/a/top.txt", False)
    assert rules.is_ignored("/docs/x/y/z.pdf", False)
    assert not rules.is_ignored("/other/z.pdf", False)


def test_nothing_below_an_ignored_folder_is_re_included():
    rules = IgnoreRules(("logs/", "!logs/important.txt"))
    assert rules.is_ignored("/logs/important.txt", False)


def test_the_ignore_file_itself_is_synced():
    assert not IgnoreRules(("*",)).is_ignored("/" + IGNORE_FILE, False)
    assert IgnoreRules(("*",)).is_ignored("/other", False)


def test_builtins_cannot_be_negated():
    assert IgnoreRules(("!*.swp",)).is_ignored("/a.swp", False)


def test_bad_lines_are_reported_and_skipped():
    rules = IgnoreRules(("*.tmp", "\\", "*.bak"))
    assert [(e.line_number, e.line) for e in rules.errors] == [(2, "\\")]
    assert rules.is_ignored("x.tmp", False) and rules.is_ignored("x.bak", False)


def test_load_reads_the_file_and_ignores_the_state_dir_inside_the_root(tmp_path):
    (tmp_path / IGNORE_FILE).write_text("*.o\n", encoding="utf-8")
    rules = IgnoreRules.load(tmp_path, state_dir=tmp_path / ".tessera" / "state")
    assert rules.is_ignored("/main.o", False)
    assert rules.is_ignored("/.tessera/state", True)
    assert rules.is_ignored("/.tessera/state/sync.db", False)
    assert not rules.is_ignored("/.tessera", True)


def test_load_without_a_file_and_with_the_state_dir_elsewhere(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    rules = IgnoreRules.load(root, state_dir=tmp_path / "state")
    assert rules.state_dir is None
    assert not rules.is_ignored("/main.o", False)


def test_filter_tree_drops_ignored_entries_and_their_contents():
    rules = IgnoreRules(("cache/",))
    nodes = [
        Node(FOLDER, "/cache"),
        Node(FILE, "/cache/x", "h"),
        Node(FILE, "/a.swp", "h"),
        Node(FILE, "/ok", "h"),
    ]
    assert list(rules.filter_tree({n.key: n for n in nodes})) == ["/ok"]


def test_temp_prefix_matches_the_downloader():
    transfer_download = pytest.importorskip("client.transfer.download.file")
    assert transfer_download.TEMP_PREFIX == TEMP_PREFIX
