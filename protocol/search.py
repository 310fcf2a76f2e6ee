"""Search by name (``GET /v1/search``): how names and queries are folded, what matches, the
request's bounds and the answer's shape.

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

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import paths
from .errors import BadRequest, ProtocolError

#: the longest query, in characters (a name is at most 255 UTF-8 bytes)
MAX_QUERY = 255
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: the longest cursor the server accepts (its own are well under 1 KiB)
MAX_CURSOR = 2048
TYPES = ("file", "folder")
#: how a name matched, best first (the answer is ranked by this, then by score)
MATCHES = ("exact", "prefix", "word", "contains", "similar")
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


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """The parameters of ``GET /v1/search``, checked: a query of 1 to :data:`MAX_QUERY` characters
    (not only spaces), an optional folder to search under, a type, whether deleted entries count,
    a page size and the cursor of the page before."""

    query: str
    path: str = paths.ROOT
    type: str | None = None
    deleted: bool = False
    limit: int = DEFAULT_LIMIT
    cursor: str = ""

    @property
    def folded(self) -> str:
        """The query as names are stored for search: folded, outer spaces dropped."""
        return fold(self.query).strip()

    def to_params(self) -> dict[str, str]:
        params = {"q": self.query, "limit": str(self.limit)}
        if self.path != paths.ROOT:
            params["path"] = self.path
        if self.type is not None:
            params["type"] = self.type
        if self.deleted:
            params["deleted"] = "true"
        if self.cursor:
            params["cursor"] = self.cursor
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> SearchRequest:
        """The request in query parameters ``q``, ``path``, ``type``, ``deleted``, ``limit``,
        ``cursor``; BadRequest (or BadPath) naming what is wrong."""
        query = params.get("q")
        if query is None:
            raise BadRequest("the query parameter 'q' is required")
        request = cls(
            query=query,
            path=paths.normalize(params.get("path") or paths.ROOT),
            type=params.get("type") or None,
            deleted=_flag(params.get("deleted"), "deleted"),
            limit=_limit(params.get("limit")),
            cursor=params.get("cursor") or "",
        )
        request.check()
        return request

    def check(self) -> None:
        if len(self.query) > MAX_QUERY:
            raise BadRequest(f"the query is longer than {MAX_QUERY} characters")
        if any(unicodedata.category(c) == "Cc" for c in self.query):
            raise BadRequest("the query has a control character")
        if not self.folded:
            raise BadRequest("the query is empty")
        if self.type is not None and self.type not in TYPES:
            raise BadRequest(f"type must be one of {', '.join(TYPES)}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        if len(self.cursor) > MAX_CURSOR:
            raise BadRequest("the cursor is not valid")


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise BadRequest(f"{name} must be true or false")


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        return int(raw)
    except ValueError:
        raise BadRequest("limit must be an integer") from None


@dataclass(frozen=True, slots=True)
class SearchMatch:
    """One entry that matched: where it is in the user's tree, what it is, and how it matched.

    ``size`` and ``rev`` are a file's (a deleted file's: its last revision's); ``modified`` is
    when its revision was committed, or when a folder or a deletion marker last changed.
    """

    path: str
    name: str
    kind: str  # file | folder
    deleted: bool
    match: str  # one of MATCHES
    score: float  # 0..1: how much of the name the query covers (similar: trigram similarity)
    modified: float
    size: int | None = None
    rev: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "kind": self.kind,
            "deleted": self.deleted,
            "match": self.match,
            "score": self.score,
            "modified": self.modified,
            "size": self.size,
            "rev": self.rev,
        }

    @classmethod
    def from_wire(cls, value: Any) -> SearchMatch:
        obj = _obj(value, "search match")
        kind, match = obj.get("kind"), obj.get("match")
        if kind not in TYPES or match not in MATCHES:
            raise ProtocolError(f"search match: unknown kind {kind!r} or match {match!r}")
        return cls(
            path=_get(obj, "path", str),
            name=_get(obj, "name", str),
            kind=kind,
            deleted=_get(obj, "deleted", bool),
            match=match,
            score=float(_get(obj, "score", (int, float))),
            modified=float(_get(obj, "modified", (int, float))),
            size=_get(obj, "size", int, optional=True),
            rev=_get(obj, "rev", int, optional=True),
        )


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of matches, best first; ``cursor`` asks for the next one while ``has_more``."""

    matches: list[SearchMatch]
    cursor: str
    has_more: bool

    def to_wire(self) -> dict[str, Any]:
        return {"matches": [m.to_wire() for m in self.matches], "cursor": self.cursor, "has_more": self.has_more}

    @classmethod
    def from_wire(cls, value: Any) -> SearchPage:
        obj = _obj(value, "search page")
        matches = obj.get("matches")
        if not isinstance(matches, list):
            raise ProtocolError("search page: 'matches' is not a list")
        return cls([SearchMatch.from_wire(m) for m in matches], _get(obj, "cursor", str), _get(obj, "has_more", bool))


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _get(obj: dict[str, Any], key: str, types: type | tuple[type, ...], *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    allowed = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise ProtocolError(f"search: {key!r} is missing or of the wrong type")
    return value
