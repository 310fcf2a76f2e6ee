"""Scenario ``propagation``: daemon A writes, daemon B receives; and the same on a Syncthing pair.

Two ``tessera sync`` daemons (two devices of one account, two folders; see
bench/daemons.py) against servers with their default settings:

1. 50 files of 256 KiB (``--count``), one after the other: each is placed in
   A's folder atomically (a rename), and timed until B has it complete;
2. one 256 MiB file (``--size``), placed the same way, timed until B has it;
   B's copy is then checked byte for byte against A's. Three such files
   (``--repeat``; one above 1 GiB), each of new random bytes so that nothing
   is deduplicated, and the median is the figure.

Where ``syncthing`` is installed, the same files go through a two-node pair on
loopback; a sync there starts with a rescan of A through its REST API (its
watcher is off), so Syncthing's times start at the rescan request.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import files, peer_syncthing, peers, plots, trash
from .context import BenchContext
from .daemons import DaemonPair
from .report import ScenarioResult, Target
from .servers import ServerStack
from .stats import MiB, median, ratio, runs_note, summarize

NAME = "propagation"
DEFAULT_COUNT = 50
FILE_SIZE = 256 * 1024
DEFAULT_BIG = 256 * MiB
PER_FILE_DEADLINE = 60.0
#: big files timed per system (medians), up to BIG_REPEAT_MAX_SIZE; one above
BIG_REPEAT = 3
BIG_REPEAT_MAX_SIZE = 1024 * MiB
BIG_DEADLINE = 600.0
#: issue 5: large-file propagation A to B <= 1.0x Syncthing's time
BIG_TARGET = 1.0


async def run(ctx: BenchContext) -> ScenarioResult:
    count = ctx.count or DEFAULT_COUNT
    big = (ctx.sizes or [DEFAULT_BIG])[0]
    result = ScenarioResult(NAME)
    with_syncthing = ctx.peers and peer_syncthing.available()
    result.parameters = {"files": count, "file_size": FILE_SIZE, "big_file": big, "syncthing": with_syncthing,
                         "daemon": "tessera sync, default options", "s3": ctx.s3}  # fmt: skip
    result.notes.append(
        "Each file is placed in A's folder by a rename and timed until it shows at B with its full size "
        "(both Tessera and Syncthing rename complete files into place). Files go one at a time."
    )
    repeat = ctx.repeat or (BIG_REPEAT if big <= BIG_REPEAT_MAX_SIZE else 1)
    result.parameters["big_file_runs"] = repeat
    work = Path(tempfile.mkdtemp(prefix="tbp", dir=ctx.work_dir))
    try:
        # each run's file: its source, A's and B's copies, the server's blocks, B's staging, the Syncthing
        # pair's two copies (the daemons' trees are removed only when the whole run ends)
        files.check_free_space(work, (7 * repeat + 1) * big + 512 * MiB, "the propagation scenario")
        sources = [work / f"big{n}.bin" for n in range(repeat)]
        for n, src in enumerate(sources):
            await asyncio.to_thread(files.write_random, src, big, 0xB16 + n)
        async with ServerStack(ctx.stack_options(), parent_dir=ctx.work_dir) as stack:
            account = await stack.add_user()
            ctx.say("propagation: starting tessera sync daemons A and B")
            async with DaemonPair(stack, account, ctx.work_dir) as pair:
                ctx.say(f"propagation: {count} files of {FILE_SIZE // 1024} KiB, A to B, one at a time")
                tessera_files = await _files_one_by_one(pair, count)
                tessera_big = []
                for n, src in enumerate(sources):
                    ctx.say(f"propagation: a {big // MiB} MiB file, A to B ({n + 1}/{repeat})")
                    staged = pair.staging / src.name
                    await asyncio.to_thread(shutil.copyfile, src, staged)
                    await asyncio.to_thread(files.flush_disk)
                    placed = await pair.place(src.name, staged)
                    seen = await pair.wait_at_b({src.name: big}, BIG_DEADLINE, since=placed)
                    tessera_big.append(seen[src.name])
                    if not await asyncio.to_thread(files.same_content, src, pair.b.folder / src.name):
                        raise RuntimeError(f"daemon B's copy of {src.name} differs from A's")
        result.samples["tessera"] = {"files_s": tessera_files, "big_s": tessera_big}
        syncthing: dict[str, Any] | None = None
        if with_syncthing:
            ctx.say("propagation: the same through the Syncthing pair")
            async with peer_syncthing.SyncthingPair(ctx.work_dir) as st:
                st_files = []
                for i in range(count):
                    rel = f"f{i:03d}.bin"
                    await asyncio.to_thread(files.write_random, st.a.folder / rel, FILE_SIZE, 0xF11E + i)
                    st_files.append(await st.sync([rel], PER_FILE_DEADLINE))
                st_big = []
                for src in sources:
                    await asyncio.to_thread(shutil.copyfile, src, st.a.folder / src.name)
                    await asyncio.to_thread(files.flush_disk)
                    st_big.append(await st.sync([src.name], BIG_DEADLINE))
                syncthing = {"files_s": st_files, "big_s": st_big, "version": st.version}
        result.samples["syncthing"] = syncthing
    finally:
        await asyncio.to_thread(trash.remove_later, work)
    _report(ctx, result, count, big)
    return result


async def _files_one_by_one(pair: DaemonPair, count: int) -> list[float]:
    out = []
    for i in range(count):
        rel = f"f{i:03d}.bin"
        data = await asyncio.to_thread(_random_bytes, FILE_SIZE, 0xF11E + i)
        placed = await pair.place(rel, data)
        out.append((await pair.wait_at_b({rel: FILE_SIZE}, PER_FILE_DEADLINE, since=placed))[rel])
    return out


def _random_bytes(size: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def _report(ctx: BenchContext, result: ScenarioResult, count: int, big: int) -> None:
    t = result.samples["tessera"]
    st = result.samples["syncthing"]
    lat = summarize(t["files_s"])
    big_s = median(t["big_s"])
    result.summary["tessera"] = {"files": lat, "big_s": big_s, "big_runs_s": t["big_s"]}
    r = result.row
    section = "tessera sync A to B"
    r(section, f"{count} files of {FILE_SIZE // 1024} KiB, p50", lat["p50"], "s")
    r(section, f"{count} files of {FILE_SIZE // 1024} KiB, p99", lat["p99"], "s", note=f"max {lat['max']:.2f} s")
    r(section, f"{big // MiB} MiB file", big_s, "s",
      note=f"{runs_note(t['big_s'])}; {big / MiB / big_s:.0f} MiB/s end to end")  # fmt: skip
    if st is not None:
        st_lat = summarize(st["files_s"])
        st_big_s = median(st["big_s"])
        result.summary["syncthing"] = {"files": st_lat, "big_s": st_big_s, "big_runs_s": st["big_s"],
                                       "version": st["version"]}  # fmt: skip
        result.ratios = {
            "files_p50_ratio_to_syncthing": ratio(lat["p50"], st_lat["p50"]),
            "files_p99_ratio_to_syncthing": ratio(lat["p99"], st_lat["p99"]),
            "big_ratio_to_syncthing": ratio(big_s, st_big_s),
        }
        r(section, "  vs Syncthing: files p50 / p99",
          f"{result.ratios['files_p50_ratio_to_syncthing']:.2f}x / {result.ratios['files_p99_ratio_to_syncthing']:.2f}x")  # fmt: skip
        r(section, f"  vs Syncthing: {big // MiB} MiB file", result.ratios["big_ratio_to_syncthing"], "x")
        s2 = f"Syncthing pair ({st['version']})"
        r(s2, f"{count} files, p50", st_lat["p50"], "s", note="from the REST rescan of A")
        r(s2, f"{count} files, p99", st_lat["p99"], "s", note=f"max {st_lat['max']:.2f} s")
        r(s2, f"{big // MiB} MiB file", st_big_s, "s", note=runs_note(st["big_s"]))
    else:
        r("Syncthing pair", "A to B", None,
          note=peers.NOT_INSTALLED if peers.which("syncthing") is None else "peers off (--no-peers)")  # fmt: skip
    result.targets.append(
        Target(
            f"propagation of a {big // MiB} MiB file A to B <= 1.0x Syncthing",
            result.ratios.get("big_ratio_to_syncthing"), "<=", BIG_TARGET, "x Syncthing",
            f"Tessera {big_s:.2f} s" + (f" vs Syncthing {st_big_s:.2f} s (same run)" if st else "")
            + f"; medians of {len(t['big_s'])}",
            reason="" if st else "no Syncthing pair in this run",
        )
    )  # fmt: skip
    path = ctx.plot_path(NAME, "latency")
    if path is not None:
        series = {"tessera sync": t["files_s"]}
        if st is not None:
            series["Syncthing"] = st["files_s"]
        result.plots.append(str(plots.latency_cdf(path, f"A to B, {count} files of {FILE_SIZE // 1024} KiB", series)))
