"""Scenario ``small``: 2,000 files of 4 KiB in 20 folders.

Now: uploaded through the client library by one client (one device token),
``upload_file`` per file with 16 at once (``--clients`` changes that), as the
CLI or a script would. Reported: total time, files per second, per-file latency.

Later (rows that say so today): the same tree synced by the sync daemon
(``tessera sync``) with a batch commit, and by a Syncthing pair, to judge the
issue's target (Tessera <= 0.5x Syncthing's time).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import files, peers, plots
from .context import BenchContext
from .report import ScenarioResult, Target
from .servers import ServerStack
from .stats import summarize

NAME = "small"
DEFAULT_COUNT = 2_000
FOLDERS = 20
FILE_SIZE = 4 * 1024
DEFAULT_CONCURRENCY = 16
#: no new upload starts after this many seconds (the scenario reports what finished)
TIME_LIMIT = 180.0
#: one upload taking longer than this counts as an error
UPLOAD_TIMEOUT = 30.0
#: the issue's Syncthing figure on its machine, quoted for context only
SYNCTHING_REFERENCE_S = 2.9


async def run(ctx: BenchContext) -> ScenarioResult:
    count = ctx.count or DEFAULT_COUNT
    concurrency = ctx.clients or DEFAULT_CONCURRENCY
    result = ScenarioResult(NAME)
    result.parameters = {"files": count, "folders": FOLDERS, "file_size": FILE_SIZE,
                         "concurrency": concurrency, "s3": ctx.s3}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="tbs", dir=ctx.work_dir))
    try:
        ctx.say(f"small: writing {count:,} files of {FILE_SIZE} bytes in {FOLDERS} folders")
        tree = await asyncio.to_thread(_make_tree, work / "tree", count)
        async with ServerStack(ctx.stack_options(), parent_dir=ctx.work_dir) as stack:
            account = await stack.new_account()
            ctx.say(f"small: uploading through the library, {concurrency} at once")
            sample = await _upload_tree(stack, account.tokens[0], work / "tree", tree, concurrency)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    result.samples["library"] = sample
    if sample["errors"]:
        result.error = f"{sample['errors']} of {sample['errors'] + sample['done']} uploads failed; first: {sample['error_kinds'][0][:300]}"
    lat = summarize(sample["latencies_s"])
    rate = sample["done"] / sample["wall_s"] if sample["wall_s"] else float("nan")
    result.summary["library"] = {"files": sample["done"], "wall_s": sample["wall_s"], "files_per_s": rate,
                                 "errors": sample["errors"], "latency": lat}  # fmt: skip
    r = result.row
    r("client library", "files uploaded", sample["done"],
      note=f"{sample['errors']} errors" + (f"; stopped at the {TIME_LIMIT:.0f} s bound"
                                            if sample["stopped_at_time_limit"] else ""))  # fmt: skip
    if sample["error_kinds"]:
        r("client library", "first error", sample["error_kinds"][0][:200])
    r("client library", "total time", sample["wall_s"], "s", note=f"{concurrency} uploads at once, one client")
    r("client library", "files per second", rate, "/s")
    r("client library", "per-file latency p50 / p99", f"{lat['p50'] * 1000:.0f} / {lat['p99'] * 1000:.0f} ms",
      note="create upload + PUT + commit, each file alone")  # fmt: skip
    r("sync daemon", "2,000 files A to B", None,
      note="needs the sync daemon (`tessera sync`) and a batch commit API")  # fmt: skip
    syncthing = "Syncthing pair not implemented in the harness yet" if peers.which("syncthing") else peers.NOT_INSTALLED
    r("Syncthing", "2,000 files A to B", None, note=syncthing)
    result.targets.append(
        Target(
            "small files: Tessera time <= 0.5x Syncthing", None, "<=", 0.5, "x Syncthing",
            f"library upload alone took {sample['wall_s']:.1f} s; the issue quotes ~{SYNCTHING_REFERENCE_S} s "
            "for a Syncthing pair on its machine",
            reason="needs the sync daemon and a Syncthing pair in the same run",
        )
    )  # fmt: skip
    path = ctx.plot_path(NAME, "latency")
    if path is not None:
        result.plots.append(
            str(plots.latency_histogram(path, f"Per-file upload latency, {count:,} x 4 KiB",
                                        {"client library": sample["latencies_s"]}))  # fmt: skip
        )
    return result


def _make_tree(root: Path, count: int) -> list[Path]:
    """``count`` random files spread over ``FOLDERS`` folders; returns their paths relative to ``root``."""
    rel = []
    for i in range(count):
        p = Path(f"d{i % FOLDERS:02d}") / f"f{i:05d}.bin"
        (root / p.parent).mkdir(parents=True, exist_ok=True)
        files.write_random(root / p, FILE_SIZE, seed=0x5A11 + i)
        rel.append(p)
    return rel


async def _upload_tree(stack: ServerStack, token: str, root: Path, tree: list[Path], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    queue = iter(tree)

    deadline = time.perf_counter() + TIME_LIMIT

    async def worker() -> None:
        for rel in queue:
            if time.perf_counter() >= deadline:
                return
            t = time.perf_counter()
            try:
                async with asyncio.timeout(UPLOAD_TIMEOUT):
                    await client.upload_file(root / rel, f"/small/{rel.as_posix()}")
            except Exception as e:  # count and go on: the figure is the rate of successes
                errors.append(f"{rel}: {type(e).__name__}: {e}")
            else:
                latencies.append(time.perf_counter() - t)

    async with stack.client(token) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"done": len(latencies), "wall_s": wall, "errors": len(errors), "error_kinds": errors[:10],
            "latencies_s": latencies, "stopped_at_time_limit": len(latencies) + len(errors) < len(tree)}  # fmt: skip
