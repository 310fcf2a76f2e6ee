"""Conflicted-copy names (Dropbox style: before the last extension, counter when taken)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings

from client.sync.plan.conflict import clean_device_name, conflicted_name, split_extension
from protocol import paths
from tests.protocol.strategies import components

DAY = dt.date(2024, 5, 1)
MARK = "(conflicted copy from laptop 2024-05-01)"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/report.txt", f"/report {MARK}.txt"),
        ("/dir/Makefile", f"/dir/Makefile {MARK}"),
        ("/.bashrc", f"/.bashrc {MARK}"),
        ("/.config.json", f"/.config {MARK}.json"),
        ("/a.tar.gz", f"/a.tar {MARK}.gz"),
        ("/notes.", f"/notes. {MARK}"),
        ("/..hidden", f"/..hidden {MARK}"),
    ],
)
def test_marker_goes_before_the_last_extension(path, expected):
    assert conflicted_name(path, "laptop", DAY) == expected


def test_folders_keep_their_dots():
    assert conflicted_name("/v1.2", "laptop", DAY, folder=True) == f"/v1.2 {MARK}"


def test_a_taken_name_gets_a_counter():
    first = f"/r {MARK}.txt"
    second = "/r (conflicted copy from laptop 2024-05-01 1).txt"
    taken = {paths.path_key(first), paths.path_key(second)}
    assert (
        conflicted_name("/r.txt", "laptop", DAY, taken=taken)
        == "/r (conflicted copy from laptop 2024-05-01 2).txt"
    )


def test_taken_is_checked_case_insensitively():
    taken = {paths.path_key(f"/R {MARK.upper()}.TXT")}
    assert conflicted_name("/r.txt", "laptop", DAY, taken=taken).endswith(" 1).txt")


def test_device_names_are_made_path_safe():
    assert clean_device_name("my/phone\n ") == "my_phone_"
    assert clean_device_name("  ") == "unknown device"
    assert len(clean_device_name("x" * 500)) == 64


def test_split_extension():
    assert split_extension("a.tar.gz") == ("a.tar", ".gz")
    assert split_extension(".bashrc") == (".bashrc", "")
    assert split_extension("x") == ("x", "")


def test_long_names_are_cut_to_a_valid_component():
    name = "é" * 127 + ".txt"
    out = conflicted_name("/" + name, "laptop", DAY)
    assert paths.normalize(out) == out
    assert out.endswith(f"{MARK}.txt")


@settings(deadline=None, max_examples=200)
@given(components, components)
def test_conflicted_names_are_valid_distinct_siblings(name, device):
    path = "/folder/" + name
    out = conflicted_name(path, device, DAY, taken={paths.path_key(path)})
    assert paths.normalize(out) == out
    assert paths.parent(out) == "/folder"
    assert paths.path_key(out) != paths.path_key(path)
