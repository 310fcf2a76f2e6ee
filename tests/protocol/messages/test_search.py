"""protocol/messages/search.py: the request's bounds (query parameters) and the answer's shape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import BadPath, BadRequest, ProtocolError
from protocol.messages.search import MAX_LIMIT, MAX_QUERY, SearchMatch, SearchPage, SearchRequest
from protocol.search import MATCHES

from .. import strategies as s
from .roundtrip import assert_round_trip


def test_request_round_trips_through_query_parameters():
    r = SearchRequest("Budget 2026", "/Work/Docs", "file", True, 200, "abc.def")
    assert SearchRequest.from_params(r.to_params()) == r
    plain = SearchRequest("x")
    assert plain.to_params() == {"q": "x", "limit": "50"}
    assert SearchRequest.from_params({"q": "x"}) == plain
    assert SearchRequest("  Crème  ").folded == "creme"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, BadRequest),
        ({"q": ""}, BadRequest),
        ({"q": " \u0301 "}, BadRequest),  # nothing left once folded
        ({"q": "x" * (MAX_QUERY + 1)}, BadRequest),
        ({"q": "a\nb"}, BadRequest),
        ({"q": "x", "type": "deleted"}, BadRequest),
        ({"q": "x", "limit": "0"}, BadRequest),
        ({"q": "x", "limit": str(MAX_LIMIT + 1)}, BadRequest),
        ({"q": "x", "limit": "1.5"}, BadRequest),
        ({"q": "x", "deleted": "yes"}, BadRequest),
        ({"q": "x", "cursor": "c" * 3000}, BadRequest),
        ({"q": "x", "path": "no-slash"}, BadPath),
    ],
)
def test_bad_requests_are_refused(params, error):
    with pytest.raises(error):
        SearchRequest.from_params(params)


def test_a_query_of_the_longest_length_is_accepted():
    assert SearchRequest.from_params({"q": "é" * MAX_QUERY, "limit": str(MAX_LIMIT)}).limit == MAX_LIMIT


@given(
    st.builds(
        SearchMatch,
        path=s.valid_paths(),
        name=st.text(max_size=20),
        kind=st.sampled_from(["file", "folder"]),
        deleted=st.booleans(),
        match=st.sampled_from(MATCHES),
        score=st.floats(0, 1),
        modified=st.floats(0, 2e9),
        size=st.none() | st.integers(0, 2**62),
        rev=st.none() | st.integers(1, 2**62),
        trash_id=st.none() | st.integers(1, 2**62),
    ),
    st.booleans(),
)
def test_page_round_trips_through_the_wire(match, more):
    assert_round_trip(SearchPage([match, match], "cur", more))
    assert list(match.to_wire()) == ["path", "name", "kind", "deleted", "match", "score", "modified", "size", "rev",
                                       "trash_id"]  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [
        None,
        {"matches": None, "cursor": "", "has_more": False},
        {"matches": [], "cursor": 1, "has_more": False},
        {"matches": [], "cursor": "", "has_more": 0},
        {"matches": [{"path": "/a", "name": "a", "kind": "link", "deleted": False, "match": "exact", "score": 1,
                      "modified": 0}], "cursor": "", "has_more": False},  # fmt: skip
        {"matches": [{"path": "/a", "name": "a", "kind": "file", "deleted": False, "match": "exact", "score": 1,
                      "modified": 0, "size": True}], "cursor": "", "has_more": False},  # fmt: skip
    ],
)
def test_a_malformed_answer_is_a_protocol_error(answer):
    with pytest.raises(ProtocolError):
        SearchPage.from_wire(answer)
