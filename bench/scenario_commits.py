"""Scenario ``commits``: metadata throughput, commits per second of 4 KiB files.

16 clients (``--clients``), each its own :class:`client.TesseraClient` with
its own device token of one account, upload distinct 4 KiB files as fast as
they can, bounded by a count (``--count``, default 2,000 commits) and a time
(``--duration``, default 20 s). Two passes:

- ``new content``: every file is new (create upload, PUT one block, commit);
- ``deduplicated``: the same files again under other paths, so every block is
  already stored and only the metadata requests remain (create upload, commit).

Figures: commits per second over the pass's wall time, and the latency of each
whole upload (p50/p99). Baseline, in the same run on the same database: the
rate at which as many connections commit one-row transactions
(bench/pg_baseline.py); each pass's rate is quoted as a ratio to it.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

from . import files, pg_baseline, plots, trash
from .context import BenchContext
from .report import ScenarioResult
from .servers import ServerStack
from .stats import ratio, summarize

NAME = "commits"
DEFAULT_CLIENTS = 16
DEFAULT_COUNT = 2_000
DEFAULT_DURATION = 20.0
FILE_SIZE = 4 * 1024
PASSES = ("new content", "deduplicated")
#: one upload taking longer than this counts as an error
UPLOAD_TIMEOUT = 30.0


async def run(ctx: BenchContext) -> ScenarioResult:
    clients = ctx.clients or DEFAULT_CLIENTS
    count = ctx.count or DEFAULT_COUNT
    duration = ctx.duration or DEFAULT_DURATION
    result = ScenarioResult(NAME)
    result.parameters = {"clients": clients, "count": count, "duration_s": duration, "file_size": FILE_SIZE,
                         "account": "one account, one device token per client", "s3": ctx.s3}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="tbc", dir=ctx.work_dir))
    try:
        ctx.say(f"commits: writing {count:,} files of {FILE_SIZE} bytes")
        paths = await asyncio.to_thread(_make_files, work, count)
        async with ServerStack(ctx.stack_options(), parent_dir=ctx.work_dir) as stack:
            account = await stack.new_account(devices=clients)
            for name in PASSES:
                ctx.say(f"commits: {clients} clients, {name}")
                result.samples[name] = await _one_pass(stack, account.tokens, paths, name, duration)
            ctx.say(f"commits: the database alone, {clients} connections")
            result.samples["database"] = await pg_baseline.commit_rate(stack.database_url(), clients, duration=duration)
    finally:
        await asyncio.to_thread(trash.remove_later, work)
    db = result.samples["database"]
    result.summary["database"] = db
    for name in PASSES:
        s = result.samples[name]
        lat = summarize(s["latencies_s"])
        rate = s["done"] / s["wall_s"] if s["wall_s"] else float("nan")
        result.summary[name] = {"commits": s["done"], "wall_s": s["wall_s"], "commits_per_s": rate,
                                "errors": s["errors"], "latency": lat}  # fmt: skip
        key = f"{name}: commits_ratio_to_db_transactions"
        result.ratios[key] = ratio(rate, db["per_s"])
        r = result.row
        r(name, "commits per second", rate, "/s", result.ratios[key], "DB transactions",
          f"{s['done']:,} commits in {s['wall_s']:.1f} s")  # fmt: skip
        r(name, "upload latency p50", lat["p50"] * 1000, "ms", note="create + PUT + commit" if name == PASSES[0]
          else "create + commit (blocks already stored)")  # fmt: skip
        r(name, "upload latency p99", lat["p99"] * 1000, "ms")
        r(name, "errors", s["errors"], note=s["error_kinds"][0][:200] if s["error_kinds"] else "")
    result.row("database alone", "transactions per second", db["per_s"], "/s",
               note=f"{db['done']:,} one-row INSERT commits in {db['wall_s']:.1f} s, {clients} connections")
    failed = {name: result.samples[name]["errors"] for name in PASSES if result.samples[name]["errors"]}
    if failed:
        first = next(result.samples[name]["error_kinds"][0] for name in failed)
        result.error = f"uploads failed ({failed}); first: {first[:300]}"
    result.notes.append("No target in issue 5 for this scenario: it tracks metadata throughput over time.")
    path = ctx.plot_path(NAME, "latency")
    if path is not None:
        series = {name: result.samples[name]["latencies_s"] for name in PASSES}
        result.plots.append(str(plots.latency_cdf(path, f"Upload latency of 4 KiB files, {clients} clients", series)))
    return result


def _make_files(work: Path, count: int) -> list[Path]:
    folder = work / "files"
    folder.mkdir()
    return [files.write_random(folder / f"f{i:06d}.bin", FILE_SIZE, seed=0xC0FFEE + i) for i in range(count)]


async def _one_pass(
    stack: ServerStack, tokens: list[str], paths: list[Path], name: str, duration: float
) -> dict[str, Any]:
    queue = iter(enumerate(paths))
    latencies: list[float] = []
    errors: list[str] = []
    prefix = "/commits/new" if name == PASSES[0] else "/commits/dedup"
    deadline = time.perf_counter() + duration

    async def worker(n: int, token: str) -> None:
        async with stack.client(token) as client:
            for i, path in queue:
                if time.perf_counter() >= deadline:
                    return
                t = time.perf_counter()
                try:
                    async with asyncio.timeout(UPLOAD_TIMEOUT):
                        await client.upload_file(path, f"{prefix}/c{n:02d}/{path.name}")
                except Exception as e:  # count and go on: the figure is the rate of successes
                    errors.append(f"{i}: {type(e).__name__}: {e}")
                else:
                    latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n, tok) for n, tok in zip(itertools.count(), tokens, strict=False)))
    wall = time.perf_counter() - t0
    return {
        "done": len(latencies),
        "wall_s": wall,
        "errors": len(errors),
        "error_kinds": errors[:10],
        "latencies_s": latencies,
    }
