"""metaserver/search/scope.py: which part of each mount a search under a folder reads."""

from __future__ import annotations

import pytest

from metaserver.search.scope import Mount, Scope, scopes, visible_mounts

MOUNTS = [Mount(1, "/"), Mount(2, "/Team"), Mount(3, "/Straße/X")]


@pytest.mark.parametrize(
    ("under", "expected"),
    [
        ("/", [Scope(1, "", None), Scope(2, "/Team", None), Scope(3, "/Straße/X", None)]),
        ("/Photos", [Scope(1, "", "/photos/%")]),
        ("/team", [Scope(1, "", "/team/%"), Scope(2, "/Team", None)]),
        ("/TEAM/Docs", [Scope(1, "", "/team/docs/%"), Scope(2, "/Team", "/docs/%")]),
        # a mount below the folder is searched whole; keys fold case, so "SS" is "ß"
        ("/STRASSE", [Scope(1, "", "/strasse/%"), Scope(3, "/Straße/X", None)]),
        ("/STRASSE/x/Y_1", [Scope(1, "", "/strasse/x/y\\_1/%"), Scope(3, "/Straße/X", "/y\\_1/%")]),
        ("/Teamwork", [Scope(1, "", "/teamwork/%")]),
    ],
)
def test_scopes_of_a_folder(under, expected):
    assert scopes(MOUNTS, under) == expected


def test_today_a_user_sees_their_home_at_the_root():
    assert visible_mounts(7) == [Mount(7, "/")]


def test_a_namespace_is_mounted_once():
    with pytest.raises(ValueError):
        scopes([Mount(1, "/"), Mount(1, "/again")])
