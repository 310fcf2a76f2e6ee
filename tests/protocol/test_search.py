"""protocol/search.py: the fold both sides apply to names, and which words a similar name needs."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given

from protocol import paths
from protocol.search import fold, fuzzy_words

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
