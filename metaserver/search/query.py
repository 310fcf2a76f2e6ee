"""The search query: names that match, ranked, one page at a time.

Three phases, in the order of the ranking (:mod:`protocol.search`), each run only while the
page is not full; every statement reads only the namespaces searched (the first column of
each index it uses is the namespace). Each phase reads the live entries (``entries``) and, for
``deleted=true``, the trash too (``trash``, with the same indexes: migration 009), one ranked
stream of each, merged:

0. the exact and prefix matches (tiers 0-1), from the btree ``entries_search_prefix``
   (migration 009) alone: the range of names that start with the query, in one namespace after
   another, ranked by length without reading the table (an index-only scan). A query that
   thousands of names start with ("m", "report") is answered here in a few milliseconds;
1. from the GIN index ``entries_search`` (its first column ``ARRAY[ns_id]``; ``gin_trgm_ops`` on
   ``name_fold``), names that hold the query (tiers 0-3: exact, prefix, word, contains), or for a query of one
   or two characters, that start with it or have a word that does (tiers 0-2), each ranked by
   how much of the name the query covers: cheap to compute for the thousands of names a common
   query ("2023", "jpg") matches (the tiers phase 0 has sent are skipped by the position);
2. only once the first phase has run out within a page: similar names (tier 4: each word of the
   query like a word of the name, pg_trgm's ``<%``), ranked by the query's trigram similarity
   to the name. This costs microseconds a name (a typo of a common word is like thousands of
   names), so it is computed only for the names that can only match this way, and only for the
   pages that reach them; a query of several words asks for each (one condition each on the
   index), not for the whole query, which one common word of it would make like most names.

A page is the next ``limit`` matches after the cursor's position (tier, score, namespace, path
key, trash row id: 0 for a live entry, as a path may be in the trash several times); versions
are joined for the page's rows only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import asyncpg

from protocol import paths
from protocol.messages.search import SearchMatch
from protocol.search import MATCHES, MAX_FUZZY_WORDS, MIN_SUBSTRING, SEPARATORS, WORD_SIMILARITY, fuzzy_words

from ..tree.entries import timestamp
from .cursor import Position
from .scope import Scope

SIMILAR = MATCHES.index("similar")
#: the first tier that phase 0 (exact and prefix) does not find
WORD = MATCHES.index("word")

#: the rows a phase searches: live entries, and (``deleted=true``) the trash too, each table
#: through its own indexes (migration 009), as ``e``: the matches of each, ranked, then together
_LIVE = """SELECT e.ns_id, e.path_key COLLATE "C" AS key, 0::bigint AS tid, {columns}, m.i, r.tier, r.score
             FROM entries e
             CROSS JOIN LATERAL (SELECT array_position(:ns_ids::bigint[], e.ns_id) AS i) m
             CROSS JOIN LATERAL ({rank}) r
            WHERE {where}
              AND ((:unders::text[])[m.i] IS NULL OR e.path_key LIKE (:unders::text[])[m.i])
              AND (:kind::text IS NULL OR e.kind = :kind)
           OFFSET 0 /* not flattened: each match's rank is computed once, then streamed to the top-N sort */"""
#: a trash row is found by its id (``tid``: a path may be in the trash several times)
_TRASH = _LIVE.replace("FROM entries e", "FROM trash e").replace("0::bigint AS tid", "e.id AS tid")
#: what the answer shows of a row (phases 1 and 2; phase 0 reads them for its page only)
_LIVE_COLUMNS = "e.path, e.kind, false AS deleted, e.rev, e.modified_at"
_TRASH_COLUMNS = "e.path, e.kind, true AS deleted, e.rev, e.deleted_at AS modified_at"

#: the next ``limit`` matches after the position, best first
_HITS = """
WITH page AS (
    SELECT * FROM ({sources}) hits
     WHERE (tier, -score, ns_id, key, tid)
           > (:tier::int, -:score::float8, :after_ns::bigint, :key::text COLLATE "C", :after_tid::bigint)
     ORDER BY tier, score DESC, ns_id, key, tid
     LIMIT :limit
)
"""

#: phases 1 and 2: from the GIN indexes, rows and all
_PAGE = _HITS + """
SELECT p.*, (:mount_paths::text[])[p.i] AS mount_path, v.size, v.created_at AS version_at
  FROM page p LEFT JOIN versions v ON v.id = p.rev
 ORDER BY p.tier, p.score DESC, p.ns_id, p.key, p.tid
"""

#: phase 0: the exact and prefix matches, from the btrees alone; the page's rows are then read
_PREFIXED = _HITS + """
SELECT p.ns_id, p.key, p.tid, p.i, p.tier, p.score, coalesce(e.path, t.path) AS path, coalesce(e.kind, t.kind) AS kind,
       p.tid <> 0 AS deleted, coalesce(e.rev, t.rev) AS rev, coalesce(e.modified_at, t.deleted_at) AS modified_at,
       (:mount_paths::text[])[p.i] AS mount_path, v.size, v.created_at AS version_at
  FROM page p
  LEFT JOIN entries e ON p.tid = 0 AND e.ns_id = p.ns_id AND e.path_key = p.path_key
  LEFT JOIN trash t ON p.tid <> 0 AND t.id = p.tid
  LEFT JOIN versions v ON v.id = coalesce(e.rev, t.rev)
 ORDER BY p.tier, p.score DESC, p.ns_id, p.key, p.tid
"""
_PREFIX_RANK = "SELECT CASE WHEN e.name_fold = :query THEN 0 ELSE 1 END AS tier, {score}"
_PREFIX_WHERE = 'e.ns_id = ANY(:ns_ids::bigint[]) AND e.name_fold COLLATE "C" LIKE :prefix'
#: the GIN indexes' first column: the namespaces searched
_IN_SCOPE = "ARRAY[e.ns_id] && :ns_ids::bigint[] AND "


def _statement(template: str, rank: str, where: str, columns: tuple[str, str], deleted: bool) -> str:
    live = _LIVE.format(columns=columns[0], rank=rank, where=where)
    trash = _TRASH.format(columns=columns[1], rank=rank, where=where)
    return template.format(sources=f"({live}) UNION ALL ({trash})" if deleted else live)


_SCORE = "char_length(:query)::float8 / greatest(char_length(e.name_fold), 1) AS score"
#: phase 1, a query of 3 characters or more: the name holds it. A word starts with it where its
#: first occurrence follows a separator (cheap), else where a later one does (a regex)
_HOLDS = f"""SELECT CASE WHEN e.name_fold = :query THEN 0 WHEN e.name_fold LIKE :prefix THEN 1
                         WHEN strpos(:separators, substr(e.name_fold, strpos(e.name_fold, :query) - 1, 1)) > 0 THEN 2
                         WHEN e.name_fold ~ :word_start THEN 2 ELSE 3 END AS tier, {_SCORE}"""
#: phase 1, a query of 1 or 2 characters: the name or a word of it starts with it (the match)
_STARTS = f"SELECT CASE WHEN e.name_fold = :query THEN 0 WHEN e.name_fold LIKE :prefix THEN 1 ELSE 2 END AS tier, {_SCORE}"
#: phase 2: each word of the query like a word of the name (that does not hold the query),
#: ranked by the trigram similarity of the query to the whole name (a close word, a short name)
_LIKE = f"SELECT {SIMILAR} AS tier, similarity(:query, e.name_fold)::float8 AS score"


def numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with its ``:name`` parameters as ``$1``, ``$2``, ... and the names in that order."""
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", number, sql), tuple(names)


_ROWS = (_LIVE_COLUMNS, _TRASH_COLUMNS)
#: each statement twice: [False] live entries, [True] with the trash
_PREFIX = [numbered(_statement(_PREFIXED, _PREFIX_RANK.format(score=_SCORE), _PREFIX_WHERE, ("e.path_key", "e.path_key"), d))
           for d in (False, True)]  # fmt: skip
_SUBSTRING = [numbered(_statement(_PAGE, _HOLDS, _IN_SCOPE + "e.name_fold LIKE :holds", _ROWS, d)) for d in (False, True)]
_WORD_START = [numbered(_statement(_PAGE, _STARTS, _IN_SCOPE + "e.name_fold ~ :word_start", _ROWS, d))
               for d in (False, True)]  # fmt: skip
_SIMILAR = {
    n: [numbered(_statement(_PAGE, _LIKE, _IN_SCOPE + " AND ".join(
        [f":word{i} <% e.name_fold" for i in range(n)] + ["e.name_fold NOT LIKE :holds"]), _ROWS, d))
        for d in (False, True)]
    for n in range(1, MAX_FUZZY_WORDS + 1)
}  # fmt: skip

_WORD_START_RE = "(^|[" + re.sub(r"([\\\]\[^-])", r"\\\1", SEPARATORS) + "])"


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def regex_escape(text: str) -> str:
    """``text`` as a literal in a PostgreSQL regular expression (ARE)."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


async def page(
    conn: asyncpg.Connection,
    scopes: Sequence[Scope],
    folded: str,
    *,
    kind: str | None,
    deleted: bool,
    after: Position,
    limit: int,
) -> list[asyncpg.Record]:
    """Up to ``limit`` matches of the folded query after ``after``, best first (every phase that the page reaches).

    Runs in the caller's transaction, which this sets up for the search (pg_trgm's threshold,
    no JIT: a search is short, and compiling it would cost more than it saves).
    """
    if not scopes:
        return []
    await conn.execute(_SETTINGS, str(WORD_SIMILARITY))
    ns_ids = [s.ns_id for s in scopes]  # scopes[i] is the (i + 1)th of each array (SQL counts from 1)
    args: dict[str, Any] = {
        "query": folded,
        "prefix": like_escape(folded) + "%",
        "holds": "%" + like_escape(folded) + "%",
        "word_start": _WORD_START_RE + regex_escape(folded),
        "ns_ids": ns_ids,
        "mount_paths": [s.mount_path for s in scopes],
        "unders": [s.under for s in scopes],
        "kind": kind,
        "separators": SEPARATORS,
    }
    rows: list[asyncpg.Record] = []
    if after.tier < WORD:
        rows = await _fetch(conn, _PREFIX[deleted], args, after, limit)
        if len(rows) == limit:
            return rows
        after = Position(WORD, 2.0, "", 0)  # every other match comes after them
    if after.tier < SIMILAR:
        first = _SUBSTRING if len(folded) >= MIN_SUBSTRING else _WORD_START
        rows += await _fetch(conn, first[deleted], args, after, limit - len(rows))
        after = Position(SIMILAR, 2.0, "", 0)  # every similar name comes after them
    words = fuzzy_words(folded)
    if len(rows) < limit and words:
        args |= {f"word{i}": w for i, w in enumerate(words)}
        rows += await _fetch(conn, _SIMILAR[len(words)][deleted], args, after, limit - len(rows))
    return rows


#: for this transaction: pg_trgm's threshold as protocol.search says; a plan for each search's
#: own values (a short query, a big namespace and a small one want different plans); no JIT (a
#: search is short: compiling it would cost more than it saves)
_SETTINGS = """SELECT set_config('pg_trgm.word_similarity_threshold', $1, true),
                      set_config('plan_cache_mode', 'force_custom_plan', true), set_config('jit', 'off', true)"""


async def _fetch(
    conn: asyncpg.Connection, statement: tuple[str, tuple[str, ...]], args: dict[str, Any], after: Position, limit: int
) -> list[asyncpg.Record]:
    sql, names = statement
    values = {**args, "tier": after.tier, "score": after.score, "key": after.key, "after_ns": after.ns_id,
              "after_tid": after.trash_id, "limit": limit}  # fmt: skip
    return await conn.fetch(sql, *(values[n] for n in names))


def position(row: asyncpg.Record) -> Position:
    return Position(row["tier"], row["score"], row["key"], row["ns_id"], row["tid"])


def match(row: asyncpg.Record) -> SearchMatch:
    """A result row as the answer shows it: its path in the user's tree."""
    path = row["mount_path"] + row["path"] if row["mount_path"] else row["path"]
    is_file = row["kind"] == "file"
    return SearchMatch(
        path=path,
        name=paths.basename(path),
        kind=row["kind"],
        deleted=row["deleted"],
        match=MATCHES[row["tier"]],
        score=row["score"],
        modified=timestamp(row["version_at"] if is_file and not row["deleted"] else row["modified_at"]),
        size=row["size"] if is_file else None,
        rev=row["rev"] if is_file else None,
        trash_id=row["tid"] or None,
    )
