"""The folder watcher: debounced notifications, ignored paths dropped."""

from __future__ import annotations

import asyncio

from client.sync_ignore import IgnoreRules
from client.sync_watch import watch

from .sync_harness import until


async def test_changes_notify_and_ignored_paths_do_not(tmp_path):
    (tmp_path / "build").mkdir()
    rules = IgnoreRules(("build/", "*.log"))
    calls: list[int] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        watch(tmp_path, lambda: calls.append(1), rules.is_ignored, step_ms=50, max_ms=300, stop=stop)
    )
    try:
        await asyncio.sleep(0.3)  # the watcher is set up
        await asyncio.to_thread((tmp_path / ".tessera-tmp-0001").write_bytes, b"ours")
        await asyncio.to_thread((tmp_path / "app.log").write_bytes, b"ignored")
        await asyncio.to_thread((tmp_path / "build" / "out.o").write_bytes, b"ignored")
        await asyncio.sleep(1.0)  # well past the debounce: nothing relevant happened
        assert calls == []
        await asyncio.to_thread((tmp_path / "notes.txt").write_bytes, b"relevant")
        await until(lambda: bool(calls), "a notification", within=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
