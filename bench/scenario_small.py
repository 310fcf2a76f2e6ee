"""Scenario ``small``: 2,000 files of 4 KiB in 20 folders.

Now: uploaded through the client library by one client (one device token),
``upload_file`` per file with 16 at once (``--clients`` changes that), as the
CLI or a script would. Reported: total time, files per second, per-file latency.

Then the same tree goes from one ``tessera sync`` daemon to another (two
devices of one account, bench/daemons.py): its folders are renamed into
daemon A's folder and timed until daemon B has every file (the daemons move
small files in batches both ways: client/sync/execute/batch.py). Where ``syncthing``
is installed, the tree is also synced by a two-node Syncthing pair on loopback
(bench/peer_syncthing.py), and the issue's target (Tessera <= 0.5x
Syncthing's time) is judged on the daemons' time. Each system makes
:data:`PASSES` passes (``--repeat``), each on fresh servers and folders, the two
taking turns; the medians are the figures.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from . import files, peer_syncthing, peers, plots, trash
from .context import BenchContext
from .daemons import DaemonPair
from .report import ScenarioResult, Target
from .servers import ServerStack
from .stats import median, ratio, runs_note, summarize

NAME = "small"
DEFAULT_COUNT = 2_000
FOLDERS = 20
FILE_SIZE = 4 * 1024
DEFAULT_CONCURRENCY = 16
#: no new upload starts after this many seconds (the scenario reports what finished)
TIME_LIMIT = 180.0
#: one upload taking longer than this counts as an error
UPLOAD_TIMEOUT = 30.0
#: A-to-B passes of each system (Tessera's daemons, the Syncthing pair), taking turns; the median counts
PASSES = 3
#: the issue's Syncthing figure on its machine, quoted for context only
SYNCTHING_REFERENCE_S = 2.9


#: server configurations the library path runs against: (label, extra `tessera-server run` flags)
VARIANTS = (
    ("server defaults", ()),
    ("rate limit off", ("--rate-limit", "0")),
)


async def run(ctx: BenchContext) -> ScenarioResult:
    count = ctx.count or DEFAULT_COUNT
    concurrency = ctx.clients or DEFAULT_CONCURRENCY
    result = ScenarioResult(NAME)
    result.parameters = {"files": count, "folders": FOLDERS, "file_size": FILE_SIZE, "concurrency": concurrency,
                         "variants": {label: list(flags) for label, flags in VARIANTS}, "s3": ctx.s3}  # fmt: skip
    result.notes.append(
        "The metadata server limits each device token to 200 requests/s (burst 1,000) by default and each "
        "file of the library path is 2 metadata requests (create upload, commit); the second variant turns "
        "the limit off, to tell the limiter from the server. The daemons batch: 250 files per create, block "
        "and commit request up (POST /v1/uploads/batch, /v1/blocks/batch, /v1/uploads/commit_batch) and per "
        "block-list and block request down (POST /v1/files/blocks_batch, /v1/blocks/get_batch)."
    )
    work = Path(tempfile.mkdtemp(prefix="tbs", dir=ctx.work_dir))
    try:
        ctx.say(f"small: writing {count:,} files of {FILE_SIZE} bytes in {FOLDERS} folders")
        tree = await asyncio.to_thread(_make_tree, work / "tree", count)
        for label, flags in VARIANTS:
            async with ServerStack(ctx.stack_options(server_args=flags), parent_dir=ctx.work_dir) as stack:
                account = await stack.new_account()
                ctx.say(f"small: uploading through the library, {concurrency} at once ({label})")
                result.samples[label] = await _upload_tree(
                    stack, account.tokens[0], work / "tree", tree, concurrency
                )
        with_syncthing = ctx.peers and peer_syncthing.available()
        passes = ctx.repeat or PASSES
        result.parameters["passes"] = passes
        daemon_runs: list[float] = []
        syncthing_runs: list[float] = []
        for n in range(passes):  # Tessera's and Syncthing's passes take turns: drift hits both alike
            ctx.say(f"small: the same tree from daemon A to daemon B (tessera sync), pass {n + 1}/{passes}")
            daemon_runs.append(await _through_daemons(ctx, count))
            if with_syncthing:
                ctx.say(f"small: the same tree through the Syncthing pair, pass {n + 1}/{passes}")
                async with peer_syncthing.SyncthingPair(ctx.work_dir) as pair:
                    rels = await asyncio.to_thread(_make_tree, pair.a.folder, count)
                    await asyncio.to_thread(files.flush_disk)
                    syncthing_runs.append(await pair.sync([p.as_posix() for p in rels]))
                    result.parameters["syncthing_version"] = pair.version
    finally:
        await asyncio.to_thread(trash.remove_later, work)
    result.samples["daemon_s"] = daemon_runs
    result.samples["syncthing_s"] = syncthing_runs or None
    syncthing_s = median(syncthing_runs) if syncthing_runs else None
    r = result.row
    for label, _flags in VARIANTS:
        sample = result.samples[label]
        section = f"library, {label}"
        if sample["errors"] and result.error is None:
            result.error = (f"{label}: {sample['errors']} of {sample['errors'] + sample['done']} uploads failed; "
                            f"first: {sample['error_kinds'][0][:300]}")  # fmt: skip
        lat = summarize(sample["latencies_s"])
        rate = sample["done"] / sample["wall_s"] if sample["wall_s"] else float("nan")
        result.summary[label] = {"files": sample["done"], "wall_s": sample["wall_s"], "files_per_s": rate,
                                 "errors": sample["errors"], "latency": lat}  # fmt: skip
        r(section, "files uploaded", sample["done"],
          note=f"{sample['errors']} errors" + (f"; stopped at the {TIME_LIMIT:.0f} s bound"
                                                if sample["stopped_at_time_limit"] else ""))  # fmt: skip
        if sample["error_kinds"]:
            r(section, "first error", sample["error_kinds"][0][:200])
        ratio_st = ratio(sample["wall_s"], syncthing_s) if syncthing_s else None
        if ratio_st is not None:
            result.ratios[f"{label}: library_upload_ratio_to_syncthing"] = ratio_st
        r(section, "total time", sample["wall_s"], "s", ratio_st, "Syncthing",
          f"{concurrency} uploads at once, one client (A to server only)")  # fmt: skip
        r(section, "files per second", rate, "/s")
        r(section, "per-file latency p50 / p99", f"{lat['p50'] * 1000:.0f} / {lat['p99'] * 1000:.0f} ms",
          note="create upload + PUT + commit, each file alone")  # fmt: skip
    daemon_s = median(daemon_runs)
    result.summary["daemon_s"] = daemon_s
    result.summary["daemon_runs_s"] = daemon_runs
    daemon_ratio = ratio(daemon_s, syncthing_s) if syncthing_s else None
    if daemon_ratio is not None:
        result.ratios["daemon_ratio_to_syncthing"] = daemon_ratio
    r("tessera sync daemons", f"{count:,} files A to B", daemon_s, "s", daemon_ratio, "Syncthing",
      f"{runs_note(daemon_runs)}; folders renamed into A's folder until B has every file; server defaults")  # fmt: skip
    if syncthing_s is not None:
        result.summary["syncthing_s"] = syncthing_s
        result.summary["syncthing_runs_s"] = syncthing_runs
        r("Syncthing pair", f"{count:,} files A to B", syncthing_s, "s",
          note=f"{runs_note(syncthing_runs)}; rescan of A via REST until B has every file")  # fmt: skip
    else:
        r("Syncthing pair", f"{count:,} files A to B", None,
          note=peers.NOT_INSTALLED if peers.which("syncthing") is None else "peers off (--no-peers)")  # fmt: skip
    result.targets.append(
        Target(
            "small files: Tessera time <= 0.5x Syncthing", daemon_ratio, "<=", 0.5, "x Syncthing",
            f"tessera sync A to B {daemon_s:.2f} s"
            + (f" vs the Syncthing pair {syncthing_s:.2f} s (same run, medians of {passes})" if syncthing_s else "")
            + f"; the issue quotes ~{SYNCTHING_REFERENCE_S} s for Syncthing on its machine",
            reason="" if syncthing_s else "no Syncthing pair in this run",
        )
    )  # fmt: skip
    path = ctx.plot_path(NAME, "latency")
    if path is not None:
        series = {label: result.samples[label]["latencies_s"] for label, _ in VARIANTS}
        result.plots.append(
            str(plots.latency_histogram(path, f"Per-file upload latency, {count:,} x 4 KiB", series))
        )
    return result


async def _through_daemons(ctx: BenchContext, count: int) -> float:
    """Seconds from placing the tree in daemon A's folder until daemon B has every file."""
    async with ServerStack(ctx.stack_options(), parent_dir=ctx.work_dir) as stack:
        account = await stack.add_user()
        async with DaemonPair(stack, account, ctx.work_dir) as pair:
            staged = pair.staging / "tree"
            rels = await asyncio.to_thread(_make_tree, staged, count)
            folders = sorted({rel.parts[0] for rel in rels})
            await asyncio.to_thread(files.flush_disk)
            # one rename per folder, all in one thread call: the whole tree appears at once
            first = await pair.place_all({folder: staged / folder for folder in folders})
            seen = await pair.wait_at_b({rel.as_posix(): FILE_SIZE for rel in rels}, TIME_LIMIT, since=first)
    return max(seen.values())


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
