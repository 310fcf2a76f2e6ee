"""Search by name (``GET /v1/search``): how names and queries are folded and what matches (the
request and the answer are messages: :mod:`protocol.messages.search`).

Names match case- and accent-insensitively: the server keeps each entry's name folded by
:func:`fold` (``entries.name_fold``) and folds the query the same way, so both sides agree on
what "the same letters" means without the database's locale or an ``unaccent`` extension.

A name matches a query (both folded) when it contains it; a query of one or two characters
only where a name or a word in it starts with it (a word starts after one of
:data:`SEPARATORS`); and, past every such match, a query with :data:`MIN_FUZZY` letters or
more also matches names with a word like each of its words (a typo: pg_trgm's word similarity
of at least :data:`WORD_SIMILARITY`; numbers alone are not typos, "2027" is not "2022"). Matches rank by :data:`MATCHES` (exact name, name prefix, word
prefix, substring, similar), then by score (how much of the name the query covers; for similar
names, the query's trigram similarity to the name), then by namespace and path (with one
namespace: by path).
"""

from __future__ import annotations

import typing
import unicodedata
from typing import Literal

#: how a name matched, best first (the answer is ranked by this, then by score)
Match = Literal["exact", "prefix", "word", "contains", "similar"]
MATCHES: tuple[str, ...] = typing.get_args(Match)
#: characters after which a word starts (as in "Budget_2023-final (2).xlsx")
SEPARATORS = " _-.,;:()[]{}+&#@~!'\"=\\"
#: shorter queries match only at the start of the name or of a word
MIN_SUBSTRING = 3
#: queries with fewer letters match no similar names
MIN_FUZZY = 4
#: how alike a word of a name must be to a word of the query to match as "similar" (pg_trgm's word similarity)
WORD_SIMILARITY = 0.6
#: the words of a query that a similar name must have words like
MAX_FUZZY_WORDS = 4


#: Latin letters that are not a base letter plus a mark, and what they fold to (as unaccent does)
_LETTERS = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th", "ħ": "h",
                          "ı": "i", "ŀ": "l", "ŧ": "t"})  # fmt: skip


def fold(name: str) -> str:
    """``name`` as search compares it: Unicode's compatibility caseless form (D146: "ﬁ" is "fi",
    "①" is "1", "ß" is "ss", "Σ" is "σ"), without combining marks ("é" is "e"), a few Latin
    letters spelled plainly ("ø" is "o", "ł" is "l", "æ" is "ae"), recomposed (NFC).

    Pure and deterministic (it depends only on Python's Unicode tables); the server stores it for
    every entry's name and applies it to every query. Names with one path key fold alike.
    Changing it means folding every stored name again (a migration like 009).
    """
    nfd = unicodedata.normalize("NFD", name).casefold()
    caseless = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", nfd).casefold())
    bare = "".join(c for c in caseless if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare.translate(_LETTERS))


def fuzzy_words(folded: str) -> list[str]:
    """The words of a folded query a similar name must each have a word like (the first
    :data:`MAX_FUZZY_WORDS` with a letter or digit: "-" is like nothing); none when the query
    has fewer than :data:`MIN_FUZZY` letters."""
    if sum(c.isalpha() for c in folded) < MIN_FUZZY:
        return []
    return [w for w in folded.split() if any(c.isalnum() for c in w)][:MAX_FUZZY_WORDS]
