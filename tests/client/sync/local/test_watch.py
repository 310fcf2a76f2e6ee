"""The folder watcher: debounced notifications, ignored paths dropped."""

from __future__ import annotations

import asyncio
import os

from client.sync.local.ignore import IgnoreRules
from client.sync.local.watch import OwnWrites, watch
from tests.client.sync.sync_harness import until


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


async def test_the_daemons_own_rename_does_not_notify_but_a_later_edit_does(tmp_path):
    own = OwnWrites()
    calls: list[int] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        watch(
            tmp_path,
            lambda: calls.append(1),
            IgnoreRules().is_ignored,
            step_ms=50,
            max_ms=300,
            stop=stop,
            own_writes=own,
        )
    )
    try:
        await asyncio.sleep(0.3)  # the watcher is set up
        tmp, target = tmp_path / ".tessera-tmp-0002", tmp_path / "downloaded.txt"
        await asyncio.to_thread(tmp.write_bytes, b"from the server")
        own.note(target)  # as the executor does right before its rename
        await asyncio.to_thread(os.replace, tmp, target)
        await asyncio.sleep(1.0)  # well past the debounce
        assert calls == []
        await asyncio.to_thread(target.write_bytes, b"edited by someone")  # the note was used up
        await until(lambda: bool(calls), "a notification", within=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def test_own_writes_are_used_once_and_expire():
    now = [0.0]
    own = OwnWrites(ttl=5.0, clock=lambda: now[0])
    own.note("/a")
    assert own.consume("/a") and not own.consume("/a")
    own.note("/b")
    now[0] = 6.0
    assert not own.consume("/b")  # its event never came in time: forgotten
