"""Scenario ``delta``: what a small change to a big file costs on the wire and in time.

Device A uploads a 256 MiB random file (``--size`` to change it), then
overwrites 1 MiB in its middle and uploads again, then appends 8 MiB and
uploads again. For every step:

- the bytes A really sends to the block server, counted by a TCP proxy in front
  of it (the metadata server hands clients the proxy's URL), against the bytes
  of the blocks that changed (found by hashing the file before and after, the
  same 4 MiB split Tessera uses); A's metadata traffic is counted by a second
  proxy in front of the metadata server;
- the time from the start of A's upload until device B, waiting in a long-poll
  on the change feed, has downloaded the new version (B skips ``pending``
  entries and downloads only a committed version, as a sync client would).

Where ``syncthing`` is installed, each step is then synced by a two-node
Syncthing pair on loopback (the file lives in its folder A; a rescan through
its REST API starts the sync) and Tessera's time is quoted as a ratio to it.

Each repeat is a fresh user with a fresh file. B downloads through the client
library, which fetches every block of the version: it does not yet reuse the
blocks it already has (the sync daemon is meant to).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from client import TesseraClient
from protocol.hashing import BLOCK_SIZE

from . import files, peer_syncthing, peers, plots
from .context import BenchContext
from .feed import ChangeFeed
from .report import ScenarioResult, Target
from .servers import ServerStack
from .stats import MiB, median, ratio

NAME = "delta"
DEFAULT_SIZE = 256 * MiB
EDIT, APPEND = 1 * MiB, 8 * MiB
DEFAULT_REPEAT = 3
#: issue 5: bytes sent <= 1.1x (changed blocks x 4 MiB) + metadata
BYTES_TARGET = 1.1
#: the issue's Syncthing figures on its machine (seconds), quoted for context only
SYNCTHING_REFERENCE = {"edit": 1.6}
PROPAGATION_DEADLINE = 600.0
STEPS = ("initial", "edit", "append")
TITLES = {
    "initial": "initial upload",
    "edit": f"{EDIT // MiB} MiB edit in the middle",
    "append": f"{APPEND // MiB} MiB appended",
}


async def run(ctx: BenchContext) -> ScenarioResult:
    size = (ctx.sizes or [DEFAULT_SIZE])[0]
    repeat = ctx.repeat or DEFAULT_REPEAT
    result = ScenarioResult(NAME)
    result.parameters = {"size": size, "edit": EDIT, "edit_offset": size // 2, "append": APPEND,
                         "repeat": repeat, "block_size": BLOCK_SIZE, "s3": ctx.s3}  # fmt: skip
    result.notes.append(
        "Bytes are counted by TCP proxies: block PUTs (headers included) and A's metadata requests."
    )
    result.notes.append(
        "B downloads through the client library, which fetches every block (no reuse of local blocks yet), "
        "so the time to B grows with the file, not the change."
    )
    work = Path(tempfile.mkdtemp(prefix="tbd", dir=ctx.work_dir))
    runs: list[dict[str, dict[str, Any]]] = []
    with_syncthing = ctx.peers and peer_syncthing.available()
    result.parameters["syncthing"] = with_syncthing
    try:
        files.check_free_space(work, (7 if with_syncthing else 4) * size + 512 * MiB, "the delta scenario")
        opts = ctx.stack_options(count_block_bytes=True, count_meta_bytes=True)
        async with contextlib.AsyncExitStack() as stacks:
            stack = await stacks.enter_async_context(ServerStack(opts, parent_dir=ctx.work_dir))
            pair = None
            if with_syncthing:
                pair = await stacks.enter_async_context(peer_syncthing.SyncthingPair(ctx.work_dir))
                result.parameters["syncthing_version"] = pair.version
            for n in range(repeat):
                ctx.say(f"delta: run {n + 1}/{repeat}" + (" (then the Syncthing pair)" if pair else ""))
                runs.append(await _one_run(stack, work, size, seed=n, pair=pair))
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    result.samples["runs"] = runs
    _summarize(result, runs)
    _draw(ctx, result, runs)
    return result


async def _one_run(
    stack: ServerStack, work: Path, size: int, seed: int, pair: peer_syncthing.SyncthingPair | None
) -> dict[str, dict[str, Any]]:
    """One file through the three steps; each step measured on Tessera, then on the Syncthing pair."""
    assert stack.block_proxy is not None and stack.meta_proxy is not None
    account = await stack.new_account(devices=2)
    token_a, token_b = account.tokens
    # inside Syncthing's folder A when there is a pair: both sync the very same file
    src = (pair.a.folder if pair else work) / f"delta-{seed}.bin"
    got = work / "b.bin"
    remote = "/bench/delta.bin"
    await asyncio.to_thread(files.write_random, src, size, 0xD317A + seed)
    before: list[str] = []
    out: dict[str, dict[str, Any]] = {}
    async with (
        stack.client(token_a) as a,  # through the metadata proxy: A's metadata bytes are counted
        TesseraClient(stack.meta_url, token_b) as b,
        aiohttp.ClientSession() as session,
    ):
        feed = ChangeFeed(session, stack.meta_url, token_b)
        for step in STEPS:
            if step == "edit":
                await asyncio.to_thread(files.overwrite_random, src, size // 2, EDIT, 0xED17 + seed)
            elif step == "append":
                await asyncio.to_thread(files.append_random, src, APPEND, 0xA99E + seed)
            after = await asyncio.to_thread(files.block_sha256s, src)
            changed = files.changed_blocks(before, after)
            file_size = (await asyncio.to_thread(src.stat)).st_size
            changed_bytes = sum(min(BLOCK_SIZE, file_size - i * BLOCK_SIZE) for i in changed)
            cursor = await feed.latest_cursor()
            waiter = asyncio.create_task(_device_b(feed, b, cursor, remote, got))
            try:
                block0, meta0 = stack.block_proxy.snapshot(), stack.meta_proxy.snapshot()
                t0 = time.perf_counter()
                up = await a.upload_file(src, remote)
                upload_s = time.perf_counter() - t0
                sent = stack.block_proxy.snapshot() - block0
                meta = stack.meta_proxy.snapshot() - meta0
                b_done, b_download_s, b_hash = await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()
                    await asyncio.gather(waiter, return_exceptions=True)
            if b_hash != up.metadata.content_hash:
                raise RuntimeError(f"device B got another version than A uploaded at step {step}")
            out[step] = {
                "file_size": file_size,
                "changed_blocks": len(changed),
                "changed_bytes": changed_bytes,
                "blocks_sent": up.blocks_sent,
                "block_bytes_up": sent.up.get("PUT", 0),
                "block_bytes_down": sent.down.get("PUT", 0),
                "meta_bytes_up": meta.total_up(),
                "meta_bytes_down": meta.total_down(),
                "upload_s": upload_s,
                "b_download_s": b_download_s,
                "propagation_s": b_done - t0,
            }
            if pair is not None:
                out[step]["syncthing_s"] = await pair.sync([src.name])
            before = after
    await asyncio.to_thread(files.remove, got)
    if pair is None:
        await asyncio.to_thread(files.remove, src)
    return out


async def _device_b(
    feed: ChangeFeed, b: TesseraClient, cursor: str, remote: str, dest: Path
) -> tuple[float, float, str]:
    """Wait for the committed file in the feed, download it; returns (done at, download s, content hash)."""
    await feed.wait_for_file(cursor, remote.lower(), PROPAGATION_DEADLINE)
    t = time.perf_counter()
    res = await b.download_file(remote, dest)
    done = time.perf_counter()
    return done, done - t, res.content_hash


def _summarize(result: ScenarioResult, runs: list[dict[str, dict[str, Any]]]) -> None:
    r = result.row
    for step in STEPS:
        rows = [run[step] for run in runs]

        def med(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return median([x[key] for x in rows])

        s = {k: med(k) for k in rows[0]}
        wire_ratio = ratio(s["block_bytes_up"], s["changed_bytes"])
        result.summary[step] = s
        result.ratios[step] = {
            "block_bytes_ratio_to_changed_blocks": wire_ratio,
            "propagation_ratio_to_upload": ratio(s["propagation_s"], s["upload_s"]),
        }
        syncthing_s = s.get("syncthing_s")
        if syncthing_s is not None:
            result.ratios[step]["propagation_ratio_to_syncthing"] = ratio(s["propagation_s"], syncthing_s)
        section = TITLES[step]
        r(section, "changed blocks (4 MiB split)", int(s["changed_blocks"]), "",
          note=f"{s['changed_bytes'] / MiB:.1f} MiB of blocks changed")  # fmt: skip
        r(section, "blocks sent by A", int(s["blocks_sent"]))
        r(section, "bytes to the block server", s["block_bytes_up"] / MiB, "MiB", wire_ratio, "changed blocks",
          "PUT requests incl. headers, via proxy")  # fmt: skip
        r(section, "A's metadata traffic (up / down)",
          f"{s['meta_bytes_up'] / 1024:.1f} / {s['meta_bytes_down'] / 1024:.1f} KiB")  # fmt: skip
        r(section, "A: upload (hash + send + commit)", s["upload_s"], "s", note=f"median of {len(rows)}")
        r(section, "B: download of the new version", s["b_download_s"], "s", note="whole file (library)")
        r(section, "time until B has it", s["propagation_s"], "s", note="from the start of A's upload")
        if syncthing_s is not None:
            r(section, "Syncthing pair: until B has it", syncthing_s, "s",
              note=f"rescan of A via REST to B's file complete; Tessera is "
                   f"{result.ratios[step]['propagation_ratio_to_syncthing']:.2f}x it")  # fmt: skip
        else:
            r(section, "Syncthing pair", None, note=peers.NOT_INSTALLED if peers.which("syncthing") is None
              else "peers off (--no-peers)")  # fmt: skip
        if step == "initial":
            continue
        expected = BYTES_TARGET * s["changed_bytes"] + s["meta_bytes_up"]
        result.targets.append(
            Target(
                f"delta {TITLES[step]}: bytes sent <= 1.1x changed blocks + metadata",
                wire_ratio,
                "<=", BYTES_TARGET, "x changed blocks",
                f"{(s['block_bytes_up'] + s['meta_bytes_up']) / MiB:.2f} MiB sent (block PUTs "
                f"{s['block_bytes_up'] / MiB:.2f} + metadata {s['meta_bytes_up'] / 1024:.1f} KiB) "
                f"vs bound {expected / MiB:.2f} MiB",
            )
        )  # fmt: skip
        reference = SYNCTHING_REFERENCE.get(step)
        result.targets.append(
            Target(
                f"delta {TITLES[step]}: time <= 0.5x Syncthing",
                result.ratios[step].get("propagation_ratio_to_syncthing"), "<=", 0.5, "x Syncthing",
                f"Tessera {s['propagation_s']:.2f} s to device B (library upload, long-poll, library download)"
                + (f" vs Syncthing {syncthing_s:.2f} s, same run" if syncthing_s is not None else "")
                + (f"; the issue quotes ~{reference} s for Syncthing on its machine" if reference else ""),
                reason="" if syncthing_s is not None else "no Syncthing pair in this run",
            )
        )  # fmt: skip


def _draw(ctx: BenchContext, result: ScenarioResult, runs: list[dict[str, dict[str, Any]]]) -> None:
    path = ctx.plot_path(NAME, "bytes")
    if path is None:
        return
    plt = plots.pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [TITLES[s] for s in STEPS]
    sent = [result.summary[s]["block_bytes_up"] / MiB for s in STEPS]
    changed = [result.summary[s]["changed_bytes"] / MiB for s in STEPS]
    xs = range(len(STEPS))
    ax1.bar([x - 0.2 for x in xs], changed, width=0.4, label="changed blocks")
    ax1.bar([x + 0.2 for x in xs], sent, width=0.4, label="sent to block server")
    ax1.set_xticks(list(xs), labels, fontsize=8)
    ax1.set_yscale("log")
    ax1.set_ylabel("MiB (log)")
    ax1.set_title("Bytes on the wire")
    ax1.legend(fontsize=8)
    bars = {
        "Tessera: A upload": [result.summary[s]["upload_s"] for s in STEPS],
        "Tessera: until B has it": [result.summary[s]["propagation_s"] for s in STEPS],
    }
    if all("syncthing_s" in result.summary[s] for s in STEPS):
        bars["Syncthing: until B has it"] = [result.summary[s]["syncthing_s"] for s in STEPS]
    width = 0.8 / len(bars)
    for i, (label, values) in enumerate(bars.items()):
        ax2.bar([x - 0.4 + width * (i + 0.5) for x in xs], values, width=width, label=label)
    ax2.set_xticks(list(xs), labels, fontsize=8)
    ax2.set_ylabel("seconds")
    ax2.set_title(f"Time (median of {len(runs)})")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    result.plots.append(str(path))
