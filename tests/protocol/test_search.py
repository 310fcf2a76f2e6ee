"""protocol/search.py: the fold both sides apply to names, the request's bounds, the answer's shape."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import paths
from protocol.errors import BadPath, BadRequest, ProtocolError
from protocol.search import (
    MAX_LIMIT,
    MAX_QUERY,
    SearchMatch,
    SearchPage,
    SearchRequest,
    fold,
    fuzzy_words,
)

from . import strategies as s


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Résumé.PDF", "resume.pdf"),
        ("Straße", "strasse"),
        ("ÆRØ Łódź", "aero lodz"),
        ("ﬁnal ①", "final 1"),
        ("ＦＵＬＬ", "full"),
        ("Ὀδυσσεύς", "οδυσσευσ"),  # final sigma too
        ("Привет Ёлка", "привет елка"),
        ("東京タワー", "東京タワー"),
        ("한국어", "한국어"),  # Hangul decomposes without marks and comes back whole
        ("e\u0301", "e"),
        ("\u0301", ""),
        ("ᾳ", "αι"),  # its path key is "αι": one name to the tree, one to search
    ],
)
def test_fold_drops_case_accents_and_compatibility_forms(name, folded):
    assert fold(name) == folded


@given(s.components)
def test_fold_is_idempotent_and_ignores_case_and_normal_form(name):
    f = fold(name)
    assert fold(f) == f
    assert fold(name.casefold()) == f
    assert fold(unicodedata.normalize("NFD", name)) == f == fold(unicodedata.normalize("NFKC", name))


@given(s.components)
def test_names_with_one_path_key_fold_alike(name):
    """Two names the tree holds as one (same path key) are one name to search too."""
    assert fold(paths.path_key(name)) == fold(name)


def test_similar_names_need_letters_and_are_asked_word_by_word():
    assert fuzzy_words("reciept") == ["reciept"]
    assert fuzzy_words("budget  2023 ") == ["budget", "2023"]
    assert fuzzy_words("budget - final") == ["budget", "final"]
    assert fuzzy_words("a b c d e f") == ["a", "b", "c", "d"]
    assert fuzzy_words("2027") == fuzzy_words("img_4821") == fuzzy_words("abc") == []


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
        match=st.sampled_from(["exact", "prefix", "word", "contains", "similar"]),
        score=st.floats(0, 1),
        modified=st.floats(0, 2e9),
        size=st.none() | st.integers(0, 2**62),
        rev=st.none() | st.integers(1, 2**62),
    ),
    st.booleans(),
)
def test_page_round_trips_through_the_wire(match, more):
    page = SearchPage([match, match], "cur", more)
    assert SearchPage.from_wire(page.to_wire()) == page


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
