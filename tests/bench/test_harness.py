"""The benchmark harness's building blocks, quickly, so the harness does not rot.

The end-to-end test runs ``python -m bench large --size 8M`` for real: the
servers as subprocesses, the baselines, the library and CLI transfers, JSON.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import pytest

from bench import baselines, files, scenarios
from bench.proxy import CountingProxy
from bench.report import MET, NOT_MEASURED, NOT_MET, ScenarioResult, Target, write_json
from bench.stats import median, percentile, runs_note, summarize
from protocol.hashing import BLOCK_SIZE, content_hash
from tests.bench.conftest import run_bench


def test_percentiles_interpolate_like_numpy():
    xs = [1.0, 2.0, 3.0, 4.0]
    assert median(xs) == 2.5
    assert percentile(xs, 0) == 1.0 and percentile(xs, 100) == 4.0
    assert percentile(xs, 99) == pytest.approx(3.97)
    assert math.isnan(percentile([], 50))
    s = summarize([0.2, 0.1, 0.3])
    assert (s["count"], s["min"], s["p50"], s["max"]) == (3, 0.1, 0.2, 0.3)
    assert runs_note([1.0, 2.5, 1.25]) == "median of 3: 1.00, 2.50, 1.25 s"


def test_targets_are_met_not_met_or_not_measured():
    assert Target("up", 0.6, ">=", 0.5).status == MET
    assert Target("up", 0.4, ">=", 0.5).status == NOT_MET
    assert Target("p99", 250.0, "<=", 200.0).status == NOT_MET
    assert Target("x", None, "<=", 1.0, reason="needs the sync daemon").status == NOT_MEASURED


def test_json_has_no_nan(tmp_path):
    result = ScenarioResult("t", summary={"x": float("nan")}, ratios={"a_ratio_to_md5": 0.5})
    write_json(tmp_path / "r.json", {"scenarios": [result.to_json()]})
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["scenarios"][0]["summary"]["x"] is None


def test_files_changed_blocks(tmp_path):
    f = files.write_random(tmp_path / "f", 3 * BLOCK_SIZE, seed=1)
    before = files.block_sha256s(f)
    files.overwrite_random(f, BLOCK_SIZE + 10, 100, seed=2)
    files.append_random(f, 5, seed=3)
    after = files.block_sha256s(f)
    assert files.changed_blocks(before, after) == [1, 3]


def test_hash_baselines_and_content_hash(tmp_path):
    f = files.write_random(tmp_path / "f", BLOCK_SIZE + 123, seed=4)
    md5 = baselines.md5_pass(f)
    sha, chash = baselines.sha256_pass(f)
    data = f.read_bytes()
    assert md5.nbytes == sha.nbytes == len(data) and md5.seconds > 0 and md5.mib_s > 0
    blocks = [data[:BLOCK_SIZE], data[BLOCK_SIZE:]]
    assert chash == content_hash(hashlib.sha256(b).hexdigest() for b in blocks)


async def test_cp_and_bare_aiohttp_baselines(tmp_path):
    src = files.write_random(tmp_path / "src.bin", 3 * 1024 * 1024, seed=5)
    cp = await baselines.cp_copy(src, tmp_path / "cp.bin")
    assert cp.nbytes == src.stat().st_size and files.same_content(src, tmp_path / "cp.bin")
    root = tmp_path / "static"
    root.mkdir()
    os.link(src, root / "src.bin")
    async with baselines.StaticServer(root, tmp_path) as static:
        got = await baselines.aiohttp_get(f"{static.url}/f/src.bin", tmp_path / "got.bin")
        put = await baselines.aiohttp_put(f"{static.url}/f/up", src)
    assert got.nbytes == put.nbytes == src.stat().st_size
    assert files.same_content(src, tmp_path / "got.bin") and files.same_content(src, root / "up.put")


async def test_proxy_counts_bytes_by_first_method():
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data.upper())
            await writer.drain()
        writer.close()

    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    async with CountingProxy(("127.0.0.1", port)) as proxy:
        before = proxy.snapshot()
        for payload in (b"PUT /x HTTP/1.1\r\n" + b"a" * 5000, b"GET /y HTTP/1.1\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(payload)
            await writer.drain()
            assert await reader.readexactly(len(payload)) == payload.upper()
            writer.close()
            await writer.wait_closed()
        delta = proxy.snapshot() - before
    upstream.close()
    await upstream.wait_closed()
    assert delta.up["PUT"] == 5017 and delta.up["GET"] == 17
    assert delta.down["PUT"] == 5017 and delta.connections == {"PUT": 1, "GET": 1}


def test_every_scenario_has_a_module():
    for name in scenarios.SCENARIOS:
        assert callable(scenarios.runner(name))
    assert set(scenarios.SUITE) <= set(scenarios.SCENARIOS)
    assert not set(scenarios.PENDING) & set(scenarios.SCENARIOS)


def test_large_end_to_end_with_real_servers(tmp_path):
    """`python -m bench large --size 8M`: servers, baselines, library + CLI, rclone, JSON, a plot, cleanup."""
    large = run_bench(tmp_path, "large", "--size", "8M", "--repeat", "1")
    machine = large["machine"]
    assert machine["cores_logical"] and machine["cpu_model"]
    assert machine["ram_free_bytes"] > 0 and machine["ram_free_bytes_after"] > 0
    summary, ratios = large["summary"]["8MiB"], large["ratios"]["8MiB"]
    assert summary["upload_mib_s"] > 0 and summary["download_mib_s"] > 0 and summary["md5_mib_s"] > 0
    assert summary["cli_peak_rss"] > 0 and summary["server_peak_rss"] > 0
    assert ratios["upload_ratio_to_md5"] > 0 and ratios["download_ratio_to_aiohttp_get"] > 0
    runs = large["samples"]["8MiB"]["library_upload"]
    assert runs[0]["blocks_sent"] == runs[0]["blocks_total"] == 2  # a fresh user: nothing deduplicated
    assert {t["status"] for t in large["targets"]} <= {MET, NOT_MET, NOT_MEASURED}
    if shutil.which("rclone"):  # the peer beside it (its absence: tests/bench/test_scenarios.py)
        assert summary["rclone_copy_mib_s"] > 0 and ratios["upload_ratio_to_rclone"] > 0
    assert large["plots"] and {Path(p).read_bytes()[:4] for p in large["plots"]} == {b"\x89PNG"}


def test_longpoll_end_to_end_on_both_endpoints(tmp_path):
    """`python -m bench longpoll --polls 20`: the notify endpoint and the aiohttp route, every poll woken."""
    scenario = run_bench(tmp_path, "longpoll", "--polls", "20", "--no-plots")
    for key, path in (("20", "/v1/changes/longpoll"), ("route 20", "/v1/changes/longpoll")):
        s = scenario["summary"][key]
        assert s["outcomes"] == {"changes": 20} and s["answered_before_commit"] == 0, s
        assert s["url"].endswith(path) and s["latency"]["max"] > 0 and s["send_floor_s"] > 0
    assert scenario["summary"]["20"]["url"] != scenario["summary"]["route 20"]["url"]
    for key in ("20", "route 20"):  # the p99 as a ratio to its baseline of the same run
        s = scenario["summary"][key]
        expected = s["latency"]["p99"] / (20 * s["send_floor_s"])
        assert scenario["ratios"][f"{key}: p99_ratio_to_n_bare_sends"] == pytest.approx(expected)


async def test_stack_with_s3_and_counting_proxies(tmp_path):
    """--s3: blocks land in moto's S3 (its own process); the proxies count what the client sends."""
    from bench.servers import ServerStack, StackOptions

    src = files.write_random(tmp_path / "f.bin", BLOCK_SIZE + 1000, seed=6)
    opts = StackOptions(s3=True, count_block_bytes=True, count_meta_bytes=True)
    async with ServerStack(opts, parent_dir=tmp_path) as stack:
        account = await stack.new_account()
        async with stack.client(account.tokens[0]) as client:
            result = await client.upload_file(src, "/f.bin")
        assert result.blocks_sent == 2
        assert stack.block_proxy is not None and stack.meta_proxy is not None
        assert stack.block_proxy.counts.up["PUT"] >= BLOCK_SIZE + 1000
        assert stack.meta_proxy.counts.total_up() > 0
        assert "Traceback" not in (stack.root / "server.log").read_text()
        assert stack.s3_target is not None and stack.s3_prefix == ""  # moto's bucket is the stack's own
        keys = await asyncio.to_thread(stack.s3_target.list_keys)
        assert len([k for k in keys if k != "tessera-deployment"]) == 2  # two blocks (and the deployment marker)
    assert not stack.root.exists()


@pytest.mark.slow
async def test_daemon_pair_moves_a_file_from_a_to_b(tmp_path):
    """Two real `tessera sync` daemons: a file renamed into A's folder shows up complete at B."""
    from bench.daemons import DaemonPair
    from bench.servers import ServerStack

    async with ServerStack(parent_dir=tmp_path) as stack:
        account = await stack.add_user()
        async with DaemonPair(stack, account, tmp_path) as pair:
            data = os.urandom(300_000)
            placed = await pair.place("sub/x.bin", data)
            seen = await pair.wait_at_b({"sub/x.bin": len(data)}, 60, since=placed)
            assert seen["sub/x.bin"] > 0
            assert (pair.b.folder / "sub" / "x.bin").read_bytes() == data
        assert not pair.root.exists()


def test_looking_for_b_s_files_stops_at_the_first_missing_one(tmp_path):
    """The harness must not stat every pending file each poll (it would take CPU from the daemons it times)."""
    from types import SimpleNamespace

    from bench.daemons import DaemonPair

    pair = DaemonPair(SimpleNamespace(meta_url="http://127.0.0.1:1"), None, tmp_path)  # type: ignore[arg-type]
    pair.b.folder.mkdir()
    for name, size in (("a", 3), ("b", 2), ("d", 3)):
        (pair.b.folder / name).write_bytes(b"x" * size)
    pending = {"a": 3, "b": 3, "c": 3, "d": 3}  # b is short yet, c missing
    assert pair._arrived(pending) == ["a"]
    (pair.b.folder / "b").write_bytes(b"xxx")
    assert pair._arrived(pending) == ["a", "b"]
    (pair.b.folder / "c").write_bytes(b"xxx")
    assert pair._arrived(pending) == ["a", "b", "c", "d"]


async def test_a_staged_tree_is_placed_in_one_go(tmp_path):
    """The small scenario's folders go into A's folder in one thread call; the time is the first's."""
    import time
    from types import SimpleNamespace

    from bench.daemons import DaemonPair

    pair = DaemonPair(SimpleNamespace(meta_url="http://127.0.0.1:1"), None, tmp_path)  # type: ignore[arg-type]
    pair.a.folder.mkdir()
    staged = tmp_path / "tree"
    for folder in ("d00", "d01", "d02"):
        (staged / folder).mkdir(parents=True)
        (staged / folder / "f.bin").write_bytes(folder.encode())
    before = time.perf_counter()
    first = await pair.place_all({folder: staged / folder for folder in ("d00", "d01", "d02")})
    assert before < first < time.perf_counter()
    assert sorted(p.name for p in pair.a.folder.iterdir()) == ["d00", "d01", "d02"]
    assert (pair.a.folder / "d02" / "f.bin").read_bytes() == b"d02"
    assert list(staged.iterdir()) == []


@pytest.mark.slow
def test_delta_end_to_end_with_daemons(tmp_path):
    """`python -m bench delta --size 16M`: daemon B copies what it has and fetches only what changed."""
    delta = run_bench(tmp_path, "delta", "--size", "16M", "--repeat", "1", "--no-plots", "--no-peers", timeout=300)
    s = delta["summary"]
    assert s["initial"]["changed_blocks"] == 4 and s["edit"]["changed_blocks"] == 1
    assert s["append"]["changed_blocks"] == 2
    for step in ("initial", "edit", "append"):
        changed = s[step]["changed_bytes"]
        assert changed <= s[step]["block_bytes_up"] <= 1.1 * changed  # A sends the changed blocks
        assert changed <= s[step]["b_block_bytes_down"] <= 1.1 * changed  # B fetches only those
        assert s[step]["propagation_s"] > 0
