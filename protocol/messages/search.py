"""Search by name (``GET /v1/search``): the request, in query parameters, and the page of matches
it answers. What matches and how names are folded: :mod:`protocol.search`."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .. import paths
from ..errors import BadRequest
from ..search import Match, fold
from .wire import answer

#: the longest query, in characters (a name is at most 255 UTF-8 bytes)
MAX_QUERY = 255
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: the longest cursor the server accepts (its own are well under 1 KiB)
MAX_CURSOR = 2048
TYPES = ("file", "folder")


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """The parameters of ``GET /v1/search``, checked: a query of 1 to :data:`MAX_QUERY` characters
    (not only spaces), an optional folder to search under, a type, whether deleted entries count,
    a page size and the cursor of the page before.

    A request of query parameters, not a body: :meth:`from_params` reads it (400 BadRequest or
    BadPath naming what is wrong), :meth:`to_params` writes it."""

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


@answer("search match")
@dataclass(frozen=True, slots=True)
class SearchMatch:
    """One entry that matched: where it is in the user's tree, what it is, and how it matched.

    ``size`` and ``rev`` are a file's (a deleted file's: its last revision's); ``modified`` is
    when its revision was committed, when a folder last changed, or (``deleted``: in the trash)
    when it was deleted.
    """

    path: str
    name: str
    kind: Literal["file", "folder"]
    deleted: bool
    #: one of protocol.search.MATCHES
    match: Match
    #: 0..1: how much of the name the query covers (similar: trigram similarity)
    score: float
    modified: float
    size: int | None = None
    rev: int | None = None
    #: a match in the trash: its trash row (``POST /v1/trash/restore {"path", "id"}``), else None
    trash_id: int | None = None


@answer("search page")
@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of matches, best first; ``cursor`` asks for the next one while ``has_more``."""

    matches: list[SearchMatch]
    cursor: str
    has_more: bool
