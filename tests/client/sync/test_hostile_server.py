"""A server cannot make the sync client reach outside the synced folder: every path it sends is
checked again (a real tiny aiohttp server answers a hostile change feed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from client import TesseraClient
from client.sync.daemon import SyncDaemon
from client.sync.errors import UnsafePath
from client.sync.local.disk import fs_path
from client.sync.settings import SyncSettings
from protocol.errors import ProtocolError
from tests.client.conftest import FAST_RETRY, eventually
from tests.conftest import start_site

HOSTILE = ["/../../escape.txt", "/a/../../escape.txt", "/..", "/a//b", "/a/\x00b"]


@pytest.mark.parametrize("path", HOSTILE)
def test_fs_path_refuses_anything_outside_the_root(tmp_path, path):
    root = tmp_path / "root"
    with pytest.raises(UnsafePath):
        fs_path(root, path)
    assert fs_path(root, "/a/b.txt") == root / "a" / "b.txt"
    assert fs_path(root, "/") == root


def _hostile_app(path: str) -> web.Application:
    """Just enough of the API for a sync daemon to start and pull one malicious change."""

    async def account(request):
        return web.json_response({"user": "alice", "user_id": 1, "device": "d", "quota_bytes": None, "used_bytes": 0})

    async def changes(request):
        entry = {"kind": "file", "path": path, "name": "escape.txt", "rev": 1, "size": 5,
                 "content_hash": "00" * 32, "modified": 1.0, "device": "x"}  # fmt: skip
        return web.json_response({"entries": [entry], "cursor": "c1", "has_more": False, "reset": True})

    async def longpoll(request):
        await asyncio.sleep(30)
        return web.json_response({"changes": False})

    async def incoming(request):
        return web.json_response({"uploads": []})

    app = web.Application()
    app.router.add_get("/v1/account", account)
    app.router.add_get("/v1/changes", changes)
    app.router.add_get("/v1/changes/longpoll", longpoll)
    app.router.add_get("/v1/uploads/incoming", incoming)
    return app


@pytest.mark.parametrize("path", ["/../../escape.txt", "/sub/../../../escape.txt"])
async def test_a_hostile_change_feed_is_refused(tmp_path: Path, path: str):
    runner, url = await start_site(_hostile_app(path))
    root = tmp_path / "deep" / "er" / "folder"
    root.mkdir(parents=True)
    try:
        async with TesseraClient(url, "tsr_x", retry=FAST_RETRY) as client:
            settings = SyncSettings(retry_base=0.1, retry_max=0.5, watch=False)
            daemon = SyncDaemon(root, client, config_dir=tmp_path / "config", device="d", settings=settings)
            stop = asyncio.Event()
            task = asyncio.create_task(daemon.run(stop))

            async def refused() -> bool:
                link = daemon.status.connection or {}
                return link.get("code") == ProtocolError.code and "not a valid path" in link.get("message", "")

            await eventually(refused, "the daemon to refuse the path", within=20)
            stop.set()
            await asyncio.wait_for(task, 20)
    finally:
        await runner.cleanup()
    def written() -> list[str]:
        return [str(p) for p in tmp_path.rglob("escape.txt")] + [p.name for p in root.iterdir()]

    assert await asyncio.to_thread(written) == []
