"""Scenario ``search``: name search latency over a million entries (issue 17).

``--count`` entries (default 1,000,000) across one user per 1,000 entries (at most 1,000): one
user holds a tenth of them (100,000 files), the others a log-normal spread (bench/search_names.py
makes the names). The users the scenario searches as are made with ``tessera-server user add``
and logged in; every tree is loaded by COPY (bench/search_load.py), then ``VACUUM ANALYZE``
(as autovacuum would have, long before a million entries).

Each measured user sends ``GET /v1/search`` (first page, 50 matches) for a mix of queries
(:data:`bench.search_names.QUERY_KINDS`), one after another; the big user ``--repeat`` x 300
queries, the 10 typical users (those nearest the median size; fewer below 100,000 entries) 30 each. Baseline, interleaved
with the searches on the same connection: ``GET /v1/files/meta`` of one of the user's files,
the same route plumbing (HTTP, token, pool) around a primary-key lookup of the same table.
The database's own time is measured too (the search's statements on one connection, against a
primary-key SELECT), with the plan of the big user's slowest query kind (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg

from metaserver.search import query as search_query
from metaserver.search.cursor import START
from metaserver.search.scope import scopes, visible_mounts
from protocol.messages.search import SearchRequest

from . import search_load, search_shared
from .context import BenchContext
from .report import ScenarioResult, Target
from .search_names import queries, user_sizes
from .servers import ServerStack
from .stats import ratio, summarize

NAME = "search"
DEFAULT_COUNT = 1_000_000
TYPICAL = 10
BIG_QUERIES = 300
TYPICAL_QUERIES = 30
PAGE = 50
TARGET_P99_MS = 50.0
SEED = 17


async def run(ctx: BenchContext) -> ScenarioResult:
    count = ctx.count or DEFAULT_COUNT
    typical = min(TYPICAL, max(1, count // 10_000))  # 10 from 100,000 entries on; fewer in the tests
    users = max(2 + typical, min(1000, count // 1000))
    sizes = user_sizes(SEED, users, count, count // 10)
    measured = [0, *_near_median(sizes[1:], typical)]
    result = ScenarioResult(NAME)
    result.parameters = {"entries": count, "users": users, "big_user_files": sizes[0], "page": PAGE,
                         "typical_user_files": [sizes[i] for i in measured[1:]],
                         "queries": {"big": BIG_QUERIES * (ctx.repeat or 1), "typical": TYPICAL_QUERIES}}  # fmt: skip
    async with ServerStack(ctx.stack_options(server_args=("--search-rate-limit", "0")), parent_dir=ctx.work_dir) as stack:
        ctx.say(f"search: {len(measured)} users with tessera-server user add")
        accounts = [await stack.new_account() for _ in measured]
        dsn = stack.database_url()
        t = time.perf_counter()
        homes, samples_paths = await _load(ctx, dsn, accounts, sizes, measured)
        result.summary["load_s"] = time.perf_counter() - t
        big_q = queries(SEED, BIG_QUERIES * (ctx.repeat or 1))
        ctx.say(f"search: {len(big_q)} searches as the big user")
        result.samples["big"] = await _http(stack, accounts[0].tokens[0], big_q, samples_paths[0])
        typical: dict[str, list] = defaultdict(list)
        for n, account in enumerate(accounts[1:], start=1):
            got = await _http(stack, account.tokens[0], queries(SEED + n, TYPICAL_QUERIES), samples_paths[n])
            for k, v in got.items():
                typical[k] += v
        result.samples["typical"] = dict(typical)
        ctx.say("search: the database alone, and the plan of the slowest kind")
        result.samples["database"] = await _database(dsn, homes[0], big_q)
        result.summary["plans"] = await _plans(dsn, homes[0], result.samples["big"])
        await _shared_round(ctx, stack, dsn, accounts[0], homes[0], big_q, samples_paths[0], result)
    _report(result)
    search_shared_report(result)
    return result


async def _shared_round(ctx: BenchContext, stack: ServerStack, dsn: str, big, home: int, big_q, picks, result) -> None:
    """The big user's folders listed in their home; then their tree as a shared folder, searched
    and listed by a member through its mount (bench/search_shared.py)."""
    where = await search_shared.folders(dsn, home)
    async with stack.client(big.tokens[0]) as client:
        result.samples["list_home_s"] = await search_shared.lists(client, where)
    member = await stack.new_account()
    ctx.say(f"search: the big user's tree as a shared folder; {len(big_q)} searches and {len(where)} lists as a member")
    await search_shared.share_tree(dsn, home, member.user)
    result.samples["big_shared"] = await _http(stack, member.tokens[0], big_q, [search_shared.in_mount(p) for p in picks])
    async with stack.client(member.tokens[0]) as client:
        result.samples["list_shared_s"] = await search_shared.lists(client, [search_shared.in_mount(p) for p in where])


def search_shared_report(result: ScenarioResult) -> None:
    """Rows for the shared round: the member's search and list through the mount, as ratios to the owner's in their home."""
    home, shared = summarize(result.samples["big"]["search_s"]), summarize(result.samples["big_shared"]["search_s"])
    lh, ls = summarize(result.samples["list_home_s"]), summarize(result.samples["list_shared_s"])
    result.summary["shared"] = {"search": shared, "list_home": lh, "list_shared": ls}
    for p in ("p50", "p99"):
        result.ratios[f"shared: search_{p}_ratio_to_home"] = ratio(shared[p], home[p])
        result.row("the same tree as a shared folder (a member)", f"search {p}", shared[p] * 1000, "ms",
                   result.ratios[f"shared: search_{p}_ratio_to_home"], "home search")  # fmt: skip
        result.ratios[f"shared: list_{p}_ratio_to_home"] = ratio(ls[p], lh[p])
        result.row("the same tree as a shared folder (a member)", f"list {p}", ls[p] * 1000, "ms",
                   result.ratios[f"shared: list_{p}_ratio_to_home"], "home list", f"home list {lh[p] * 1000:.2f} ms")  # fmt: skip


def _near_median(sizes: list[int], n: int) -> list[int]:
    """Indexes (into the full list, the big user being 0) of the ``n`` users nearest the median size."""
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    mid = len(order) // 2 - n // 2
    return [i + 1 for i in order[mid : mid + n]]


async def _load(
    ctx: BenchContext, dsn: str, accounts: list, sizes: list[int], measured: list[int]
) -> tuple[list[int], list[list[str]]]:
    """Every tree into the database; the measured users' home namespaces and a few of their file paths."""
    conn = await asyncpg.connect(dsn)
    try:
        homes = [await search_load.home_namespace(conn, a.user) for a in accounts]
        others = await search_load.add_users(conn, len(sizes) - len(measured), "bench-search-")
        owner = dict(zip(measured, homes, strict=True))
        rest = iter(others)
        trees = [(owner.get(i) or next(rest), SEED * 1000 + i, files) for i, files in enumerate(sizes)]
        await search_load.load_trees(conn, trees, ctx.say)
        await conn.execute("VACUUM ANALYZE entries")
        await conn.execute("VACUUM ANALYZE versions")
        await conn.execute("VACUUM ANALYZE trash")
        picks = [
            [r["path"] for r in await conn.fetch(
                "SELECT path FROM entries WHERE ns_id = $1 AND kind = 'file' AND NOT deleted ORDER BY seq LIMIT 50", ns)]
            for ns in homes
        ]  # fmt: skip
    finally:
        await conn.close()
    return homes, picks


async def _http(stack: ServerStack, token: str, qs: list[tuple[str, str]], files: list[str]) -> dict[str, list]:
    """Each query's latency over HTTP (first page), a metadata lookup between two searches."""
    out: dict[str, list] = {"search_s": [], "kinds": [], "queries": [], "matches": [], "lookup_s": []}
    async with stack.client(token) as client:
        for _, q in qs[:5]:  # warm the connection and the server's statements
            await client.search(SearchRequest(q, limit=PAGE))
        for i, (kind, q) in enumerate(qs):
            t = time.perf_counter()
            page = await client.search(SearchRequest(q, limit=PAGE))
            out["search_s"].append(time.perf_counter() - t)
            out["kinds"].append(kind)
            out["queries"].append(q)
            out["matches"].append(len(page.matches))
            t = time.perf_counter()
            await client.meta(files[i % len(files)])
            out["lookup_s"].append(time.perf_counter() - t)
    return out


def _clock(pid: int) -> tuple[float, float] | None:
    """Seconds process ``pid`` has spent on a CPU, and runnable but waiting for one (Linux's
    schedstat: what other processes took); None where it cannot be read (a remote database)."""
    try:
        on_cpu, waiting = Path(f"/proc/{pid}/schedstat").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return int(on_cpu) / 1e9, int(waiting) / 1e9


async def _database(dsn: str, ns_id: int, qs: list[tuple[str, str]]) -> dict[str, list[float]]:
    """The search's statements alone (one connection, no HTTP), against a primary-key SELECT;
    with the backend's CPU time and its wait for a CPU, for each search, where it can be read."""
    conn = await asyncpg.connect(dsn)
    out: dict[str, list[float]] = {"search_s": [], "lookup_s": [], "cpu_s": [], "cpu_wait_s": []}
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        keys = [r[0] for r in await conn.fetch("SELECT path_key FROM entries WHERE ns_id = $1 LIMIT 100", ns_id)]
        # not conn.prepare(): with asyncpg 0.32 and PostgreSQL 18, a transaction with an isolation
        # level then fails ("SET TRANSACTION ISOLATION LEVEL must be called before any query")
        lookup = "SELECT * FROM entries WHERE ns_id = $1 AND path_key = $2"
        where = scopes(visible_mounts(ns_id))
        for i, (_, q) in enumerate(qs):
            before, t = _clock(pid), time.perf_counter()
            async with conn.transaction(isolation="repeatable_read"):
                await search_query.page(conn, where, SearchRequest(q).folded, kind=None, deleted=False,
                                        after=START, limit=PAGE + 1)  # fmt: skip
            out["search_s"].append(time.perf_counter() - t)
            after = _clock(pid)
            if before is not None and after is not None:
                out["cpu_s"].append(after[0] - before[0])
                out["cpu_wait_s"].append(after[1] - before[1])
            t = time.perf_counter()
            await conn.fetchrow(lookup, ns_id, keys[i % len(keys)])
            out["lookup_s"].append(time.perf_counter() - t)
    finally:
        await conn.close()
    return out


class _Explaining:
    """A connection whose ``fetch`` also keeps the statement's EXPLAIN ANALYZE."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plans: list[str] = []

    async def execute(self, *args: Any) -> Any:
        return await self.conn.execute(*args)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        plan = await self.conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
        self.plans.append("\n".join(r[0] for r in plan))
        return await self.conn.fetch(sql, *args)


async def _plans(dsn: str, ns_id: int, big: dict[str, list]) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the big user's slowest search and of a typical word, on the database."""
    slowest = max(range(len(big["search_s"])), key=lambda i: big["search_s"][i])
    word = next((q for k, q in zip(big["kinds"], big["queries"], strict=True) if k == "word"), "report")
    out: dict[str, Any] = {}
    conn = await asyncpg.connect(dsn)
    try:
        for label, q in (("slowest", big["queries"][slowest]), ("word", word)):
            explaining = _Explaining(conn)
            async with conn.transaction(isolation="repeatable_read"):
                await search_query.page(explaining, scopes(visible_mounts(ns_id)), SearchRequest(q).folded,  # type: ignore[arg-type]
                                        kind=None, deleted=False, after=START, limit=PAGE + 1)  # fmt: skip
            out[label] = {"query": q, "plans": explaining.plans}
    finally:
        await conn.close()
    return out


def _report(result: ScenarioResult) -> None:
    big, typical, db = result.samples["big"], result.samples["typical"], result.samples["database"]
    files = result.parameters["big_user_files"]
    for label, s in ((f"big user ({files:,} files)", big), ("typical users", typical)):
        lat, base = summarize(s["search_s"]), summarize(s["lookup_s"])
        key = "big" if s is big else "typical"
        result.summary[key] = {"search": lat, "lookup": base, "by_kind": _by_kind(s)}
        for p in ("p50", "p99"):
            result.ratios[f"{key}: search_{p}_ratio_to_lookup"] = ratio(lat[p], base[p])
            result.row(label, f"search {p}", lat[p] * 1000, "ms", result.ratios[f"{key}: search_{p}_ratio_to_lookup"],
                       "lookup", f"lookup {p} {base[p] * 1000:.2f} ms" if p == "p50" else "")  # fmt: skip
        worst = max(result.summary[key]["by_kind"].items(), key=lambda kv: kv[1]["p99"])
        result.row(label, "slowest kind (p99)", worst[1]["p99"] * 1000, "ms", note=f"{worst[0]}: {worst[1]['count']} queries")
    dbs, dbl = summarize(db["search_s"]), summarize(db["lookup_s"])
    result.summary["database"] = {"search": dbs, "lookup": dbl}
    for p in ("p50", "p99"):
        result.ratios[f"database: search_{p}_ratio_to_pk_select"] = ratio(dbs[p], dbl[p])
        result.row("database alone, big user", f"search {p}", dbs[p] * 1000, "ms",
                   result.ratios[f"database: search_{p}_ratio_to_pk_select"], "PK SELECT")  # fmt: skip
    if db["cpu_s"]:
        cpu, wait = summarize(db["cpu_s"]), summarize(db["cpu_wait_s"])
        result.summary["database"] |= {"backend_cpu": cpu, "backend_cpu_wait": wait, "by_kind_cpu": _by_kind(
            {"kinds": result.samples["big"]["kinds"], "search_s": db["cpu_s"]})}  # fmt: skip
        for p in ("p50", "p99"):
            result.row("database alone, big user", f"backend CPU {p}", cpu[p] * 1000, "ms",
                       note=f"waiting for a CPU: {wait[p] * 1000:.1f} ms ({p})")  # fmt: skip
    result.row("load", "entries by COPY", result.parameters["entries"], note=f"{result.summary['load_s']:.0f} s")
    result.targets.append(Target(f"search p99, user with {files:,} files", result.summary["big"]["search"]["p99"] * 1000,
                                 "<=", TARGET_P99_MS, "ms", "issue 17, over HTTP, first page of 50"))  # fmt: skip
    result.notes.append("Plans (EXPLAIN ANALYZE) of the big user's slowest query and of a word: summary.plans in the JSON.")


def _by_kind(s: dict[str, list]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[float]] = defaultdict(list)
    for kind, t in zip(s["kinds"], s["search_s"], strict=True):
        groups[kind].append(t)
    return {k: summarize(v) for k, v in sorted(groups.items())}

