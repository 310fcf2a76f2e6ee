"""bench/warmup.py: free memory is touched once before scenarios that write big files."""

from __future__ import annotations

import asyncio

from rich.console import Console

from bench import warmup
from bench.context import BenchContext
from bench.report import ScenarioResult

MiB = 1 << 20


def test_warms_what_is_asked_when_memory_is_free():
    done = warmup.warm_free_memory(16 * MiB)
    assert done.requested == 16 * MiB
    assert done.touched == 16 * MiB or done.free_before < 16 * MiB + warmup.RESERVE
    assert done.seconds >= 0
    assert done.to_json()["touched_bytes"] == done.touched


def test_never_goes_into_the_reserve(monkeypatch):
    monkeypatch.setattr(warmup, "mem_free", lambda: warmup.RESERVE + 8 * MiB + 123)
    done = warmup.warm_free_memory(1 << 40)
    assert done.touched == 8 * MiB  # free memory less the reserve, whole pages
    monkeypatch.setattr(warmup, "mem_free", lambda: warmup.RESERVE - 1)
    done = warmup.warm_free_memory(1 << 40)
    assert done.touched == 0 and "no free memory" in done.describe()


def test_mem_free_reads_meminfo():
    assert warmup.mem_free() > 0


def test_the_context_records_the_warmup_or_that_the_run_was_cold(tmp_path):
    for warm in (True, False):
        ctx = BenchContext(tmp_path, None, "t", Console(quiet=True), warm=warm)
        result = ScenarioResult("large")
        asyncio.run(ctx.warm_memory(result, 4 * MiB))
        if warm:
            assert result.parameters["memory_warmup"]["requested_bytes"] == 4 * MiB
            assert "warmed" in result.notes[-1] or "no free memory" in result.notes[-1]
        else:
            assert result.parameters["memory_warmup"] is None and "--cold" in result.notes[-1]
