"""The daemon scenarios and the peers end to end, small: ``python -m bench SCENARIO`` for real.

Syncthing and rclone are compared where they are installed (``make bench-peers``;
CI installs them when it can) and are said to be missing where they are not:
both paths are checked here, the missing one by running without them on the PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import peers
from bench.report import MET, NOT_MEASURED, NOT_MET
from tests.bench.conftest import bench_env, run_bench

SYNCTHING = shutil.which("syncthing") is not None
RCLONE = shutil.which("rclone") is not None
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _pngs(scenario: dict[str, Any]) -> list[Path]:
    plots = [Path(p) for p in scenario["plots"]]
    assert plots, "no plot written"
    for plot in plots:
        assert plot.read_bytes()[:8] == PNG_MAGIC, plot
    return plots


def _row(scenario: dict[str, Any], section: str) -> dict[str, Any]:
    rows = [r for r in scenario["rows"] if r["section"].startswith(section)]
    assert rows, f"no {section} row"
    return rows[0]


def _without_peers_on_path(tmp_path: Path) -> dict[str, str]:
    """The environment with a PATH of the venv's scripts and ``cp`` (a baseline): no syncthing, no rclone."""
    tools = tmp_path / "path"
    tools.mkdir()
    cp = shutil.which("cp")
    assert cp is not None
    (tools / "cp").symlink_to(cp)
    return bench_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{tools}")


def test_small_end_to_end_with_syncthing_where_installed(tmp_path):
    """40 files: the library (both server variants), a pass of the daemons and one of Syncthing, a latency plot."""
    s = run_bench(tmp_path, "small", "--count", "40", "--repeat", "1", timeout=240)
    for variant in ("server defaults", "rate limit off"):
        v = s["summary"][variant]
        assert v["files"] == 40 and v["errors"] == 0 and v["latency"]["count"] == 40, v
    daemon_s = s["summary"]["daemon_s"]
    assert s["summary"]["daemon_runs_s"] == [daemon_s] and daemon_s > 0  # medians of several: propagation's test
    [target] = s["targets"]
    if SYNCTHING:
        syncthing_s = s["summary"]["syncthing_s"]
        assert s["summary"]["syncthing_runs_s"] == [syncthing_s] and syncthing_s > 0
        assert s["ratios"]["daemon_ratio_to_syncthing"] == pytest.approx(daemon_s / syncthing_s)
        assert target["figure"] == s["ratios"]["daemon_ratio_to_syncthing"]
        assert target["status"] == (MET if target["figure"] <= 0.5 else NOT_MET)
    else:
        assert target["status"] == NOT_MEASURED and _row(s, "Syncthing")["note"] == peers.NOT_INSTALLED
    _pngs(s)


@pytest.mark.skipif(not SYNCTHING, reason="syncthing is not installed (make bench-peers)")
def test_propagation_end_to_end_against_syncthing(tmp_path):
    """5 files and two 8 MiB files through the daemons and through the Syncthing pair, as ratios of medians."""
    s = run_bench(tmp_path, "propagation", "--count", "5", "--size", "8M", "--repeat", "2", timeout=240)
    tessera, syncthing = s["summary"]["tessera"], s["summary"]["syncthing"]
    assert tessera["files"]["count"] == syncthing["files"]["count"] == 5
    for side in (tessera, syncthing):
        assert len(side["big_runs_s"]) == 2 and side["big_s"] == pytest.approx(sum(side["big_runs_s"]) / 2)
    assert syncthing["version"]
    assert s["ratios"]["big_ratio_to_syncthing"] == pytest.approx(tessera["big_s"] / syncthing["big_s"])
    [target] = s["targets"]
    assert target["status"] in (MET, NOT_MET) and target["figure"] == s["ratios"]["big_ratio_to_syncthing"]
    _pngs(s)


def test_propagation_without_syncthing_says_it_is_not_installed(tmp_path):
    """No syncthing on the PATH: Tessera's figures, a row saying the peer is missing, the target not measured."""
    s = run_bench(tmp_path, "propagation", "--count", "5", "--size", "8M", "--repeat", "1",
                  env=_without_peers_on_path(tmp_path), timeout=240)  # fmt: skip
    assert s["summary"]["tessera"]["files"]["count"] == 5 and s["summary"]["tessera"]["big_s"] > 0
    assert "syncthing" not in s["summary"] and s["ratios"] == {}
    assert _row(s, "Syncthing")["note"] == peers.NOT_INSTALLED
    [target] = s["targets"]
    assert target["status"] == NOT_MEASURED and target["figure"] is None
    _pngs(s)


def test_large_without_rclone_says_it_is_not_installed(tmp_path):
    """No rclone on the PATH: the rclone row says so and no ratio to it is made up."""
    s = run_bench(tmp_path, "large", "--size", "4M", "--repeat", "1", "--no-cli", "--no-plots",
                  env=_without_peers_on_path(tmp_path))  # fmt: skip
    assert s["summary"]["4MiB"]["upload_mib_s"] > 0 and "upload_ratio_to_rclone" not in s["ratios"]["4MiB"]
    [row] = [r for r in s["rows"] if r["metric"].startswith("rclone copy")]
    assert row["value"] is None and row["note"] == peers.NOT_INSTALLED


def test_commits_end_to_end(tmp_path):
    """A few clients' commits, briefly, new content and deduplicated, beside the database's own commit rate."""
    s = run_bench(tmp_path, "commits", "--count", "60", "--clients", "4", "--duration", "1", "--no-plots")
    assert s["parameters"]["clients"] == 4
    db = s["summary"]["database"]
    assert db["done"] > 0 and db["per_s"] == pytest.approx(db["done"] / db["wall_s"])
    for kind in ("new content", "deduplicated"):
        k = s["summary"][kind]
        assert 0 < k["commits"] <= 60 and k["errors"] == 0 and k["latency"]["count"] == k["commits"], k
        assert k["commits_per_s"] == pytest.approx(k["commits"] / k["wall_s"])
        ratio = s["ratios"][f"{kind}: commits_ratio_to_db_transactions"]
        assert ratio == pytest.approx(k["commits_per_s"] / db["per_s"])


def test_search_end_to_end_small(tmp_path):
    """5,000 entries of 5 users loaded by COPY, searched over HTTP and on the database, with plans."""
    s = run_bench(tmp_path, "search", "--count", "5000", "--no-plots", timeout=240)
    p = s["parameters"]
    assert p["entries"] == 5000 and p["users"] == 5 and p["big_user_files"] == 500
    big, typical = s["summary"]["big"], s["summary"]["typical"]
    assert big["search"]["count"] == 300 and big["lookup"]["count"] == 300
    assert typical["search"]["count"] == 30
    assert set(big["by_kind"]) >= {"word", "prefix", "typo", "absent"}
    assert sum(s["samples"]["big"]["matches"]) > 300  # the queries find names (50 a page at most)
    assert s["ratios"]["big: search_p99_ratio_to_lookup"] > 0
    [target] = s["targets"]
    assert target["figure"] == pytest.approx(big["search"]["p99"] * 1000)
    plans = s["summary"]["plans"]
    # the search's indexes serve it (entries_search_prefix for the prefix phase, entries_search after it)
    assert "entries_search" in plans["word"]["plans"][0]
    cpu = s["summary"]["database"]["backend_cpu"]  # the embedded PostgreSQL's backend, read from /proc
    assert cpu["count"] == 300 and 0 < cpu["p50"] <= s["summary"]["database"]["search"]["p99"]
    # the shared round: the same searches by a member through a mount find as much as the owner did at home
    shared = s["samples"]["big_shared"]
    assert shared["queries"] == s["samples"]["big"]["queries"] and shared["matches"] == s["samples"]["big"]["matches"]
    assert s["summary"]["shared"]["list_shared"]["count"] == s["summary"]["shared"]["list_home"]["count"] > 0
    assert s["ratios"]["shared: search_p99_ratio_to_home"] > 0 and s["ratios"]["shared: list_p50_ratio_to_home"] > 0
