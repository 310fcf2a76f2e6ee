"""Uploads in a real browser: the page's own controls, the block protocol from the browser."""

from __future__ import annotations

import hashlib
import os

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_upload_one_file_by_the_picker(tab, live, tmp_path):
    data = os.urandom(5 * 1024 * 1024 + 123)
    src = tmp_path / "photo one.bin"
    src.write_bytes(data)
    await tab.sign_in()
    await tab.page.set_input_files("#pick-files", str(src))
    await tab.page.wait_for_selector('#uploads[data-state="done"]', timeout=30_000)
    await tab.page.wait_for_selector('tr[data-path="/photo one.bin"]')
    token = await live.login()
    import aiohttp
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{live.meta_url}/v1/files/meta", params={"path": "/photo one.bin"},
                         headers={"Authorization": f"Bearer {token}"}) as r:
            meta = await r.json()
    assert meta["size"] == len(data), (meta, tab.console, tab.errors)
