"""metaserver/search/cursor.py: a page's position, signed for one user and one search."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaserver.search import cursor
from metaserver.search.cursor import START, Position
from protocol.errors import BadCursor
from protocol.messages.search import SearchRequest

SECRET = b"s" * 32
ASKED = SearchRequest("Budget", "/Work", "file", False, 20)


@given(st.builds(Position, st.integers(0, 4), st.floats(0, 2, allow_nan=False), st.text(max_size=300),
                 st.integers(1, 2**62)))  # fmt: skip
def test_a_position_comes_back_exactly(at):
    c = cursor.encode(SECRET, 5, ASKED, at)
    assert cursor.decode(SECRET, 5, replace(ASKED, cursor=c)) == at


def test_no_cursor_is_the_start():
    assert cursor.decode(SECRET, 5, ASKED) == START


def test_the_same_search_in_other_letters_keeps_its_cursor():
    c = cursor.encode(SECRET, 5, ASKED, Position(1, 0.5, "/work/budget", 9))
    same = SearchRequest("BÚDGET ", "/work", "file", False, 100, c)
    assert cursor.decode(SECRET, 5, same) == Position(1, 0.5, "/work/budget", 9)


@pytest.mark.parametrize(
    "change",
    [
        {"query": "budgets"},
        {"path": "/"},
        {"type": None},
        {"deleted": True},
    ],
)
def test_a_cursor_belongs_to_its_search(change):
    c = cursor.encode(SECRET, 5, ASKED, Position(1, 0.5, "/x", 9))
    with pytest.raises(BadCursor):
        cursor.decode(SECRET, 5, replace(ASKED, cursor=c, **change))


def test_a_cursor_belongs_to_its_user_and_server():
    c = cursor.encode(SECRET, 5, ASKED, Position(1, 0.5, "/x", 9))
    with pytest.raises(BadCursor):
        cursor.decode(SECRET, 6, replace(ASKED, cursor=c))
    with pytest.raises(BadCursor):
        cursor.decode(b"t" * 32, 5, replace(ASKED, cursor=c))
