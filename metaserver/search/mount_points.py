"""Shared folders found by name: a mount point is a folder of the user's tree that no namespace
stores as an entry (the share's root has no row, and the member's home has nothing there), so
the database's ranking cannot see it. A user has a handful of mounts: each is ranked here by
the same rules as the database ranks names (:mod:`protocol.search`; exact, prefix, word and
substring matches: a mount is not found as a "similar" name), and the page is the merge of
these with the database's rows, in the order of :class:`~.cursor.Position`.

A mount point's position is (tier, score, the share's namespace, the empty key): the empty key
comes before every path key of its namespace, so a cursor that ends on it goes on with the
database's rows after it and pages neither repeat nor skip a match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocol import paths
from protocol.messages.search import SearchMatch
from protocol.search import MATCHES, MIN_SUBSTRING, SEPARATORS, fold

from .cursor import Position


@dataclass(frozen=True, slots=True)
class MountPoint:
    """Shared namespace ``ns_id`` mounted at ``path`` of the user's tree since ``since`` (Unix seconds)."""

    ns_id: int
    path: str
    since: float


def rank(name_fold: str, query: str) -> int | None:
    """The tier (index into MATCHES) at which ``name_fold`` matches the folded ``query``, or None."""
    if name_fold == query:
        return MATCHES.index("exact")
    if name_fold.startswith(query):
        return MATCHES.index("prefix")
    at = name_fold.find(query)
    while at > 0:
        if name_fold[at - 1] in SEPARATORS:
            return MATCHES.index("word")
        at = name_fold.find(query, at + 1)
    if len(query) >= MIN_SUBSTRING and query in name_fold:
        return MATCHES.index("contains")
    return None


def order(position: Position) -> tuple:
    """The ranking's sort key (as the database's ORDER BY: tier up, score down, then ids)."""
    return (position.tier, -position.score, position.ns_id, position.key, position.trash_id)


def matches(
    points: Iterable[MountPoint], query: str, *, kind: str | None, under: str, after: Position
) -> list[tuple[Position, SearchMatch]]:
    """The mount points below ``under`` whose name matches the folded ``query``, after ``after``, best first."""
    if kind == "file":
        return []
    found = []
    for p in points:
        if not paths.is_within(p.path, under) or paths.path_key(p.path) == paths.path_key(under):
            continue
        name = paths.basename(p.path)
        name_fold = fold(name)
        tier = rank(name_fold, query)
        if tier is None:
            continue
        score = len(query) / max(len(name_fold), 1)
        position = Position(tier, score, "", p.ns_id)
        if order(position) > order(after):
            match = SearchMatch(path=p.path, name=name, kind="folder", deleted=False, match=MATCHES[tier],
                                score=score, modified=p.since)  # fmt: skip
            found.append((position, match))
    return sorted(found, key=lambda pm: order(pm[0]))


def merged(
    points: Sequence[tuple[Position, SearchMatch]], rows: Sequence[tuple[Position, SearchMatch]], limit: int
) -> list[tuple[Position, SearchMatch]]:
    """The first ``limit`` of two ranked lists, in the ranking's order."""
    return sorted([*points, *rows], key=lambda pm: order(pm[0]))[:limit]
