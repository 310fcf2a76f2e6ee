"""Where the client long-polls: it sends its token only to a notify URL that keeps the server's
scheme (or a stronger one) and host, unless the user trusts that host."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from client import TesseraClient
from client.api.longpoll import LONGPOLL_PATH, check_notify_url
from tests.client.conftest import FAST_RETRY, PASSWORD, USER
from tests.conftest import start_site


def test_check_notify_url():
    ok = [
        ("http://a.example:8080", "http://a.example:8082/v1/changes/longpoll"),
        ("https://a.example", "https://a.example:8443/v1/changes/longpoll"),
        ("http://a.example", "https://a.example/v1/changes/longpoll"),  # stronger is fine
        ("http://A.example", "http://a.EXAMPLE:1/x"),
    ]
    for server, notify in ok:
        assert check_notify_url(server, notify) is None, (server, notify)
    assert "https" in check_notify_url("https://a.example", "http://a.example:8082/x")
    assert "not the server's" in check_notify_url("http://a.example", "http://evil.example/x")
    assert check_notify_url("http://a.example", "http://notify.example/x", ["notify.example"]) is None
    assert "https" in check_notify_url("https://a.example", "http://notify.example/x", ["notify.example"])
    assert check_notify_url("http://a.example", "ftp://a.example/x") is not None


async def test_the_token_is_not_sent_to_another_host(server_config, pool, tmp_path):
    """A server naming a notify URL on another host: the client polls the server itself, and the
    other host never hears from it (a listener on another loopback address counts connections)."""
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.users import create_user

    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read(4096))
        writer.close()

    elsewhere = await asyncio.start_server(record, "127.0.0.2", 0)
    port = elsewhere.sockets[0].getsockname()[1]
    block_runner, block_url = await start_site(create_block_app(server_config))
    config = replace(server_config, block_urls=(block_url,), notify_url=f"http://127.0.0.2:{port}")
    meta_runner, meta_url = await start_site(create_meta_app(config))
    try:
        async with pool.acquire() as conn:
            await create_user(conn, USER, PASSWORD)
        async with TesseraClient(meta_url, retry=FAST_RETRY) as client:
            await client.login(USER, PASSWORD, "d")
            assert await client.longpoll_url() == meta_url + LONGPOLL_PATH
            cursor = await client.latest_cursor()
            poll = asyncio.create_task(client.longpoll(cursor, timeout=30))
            await asyncio.sleep(0.3)
            await client.mkdir("/wake")
            assert (await asyncio.wait_for(poll, 10)).changes
        async with TesseraClient(meta_url, retry=FAST_RETRY, notify_hosts=("127.0.0.2",)) as trusting:
            await trusting.login(USER, PASSWORD, "d2")
            assert await trusting.longpoll_url() == f"http://127.0.0.2:{port}{LONGPOLL_PATH}"
        assert seen == []
    finally:
        elsewhere.close()
        await meta_runner.cleanup()
        await block_runner.cleanup()


async def test_the_server_announces_its_public_url(server_config, pool):
    """With --public-url, the announced notify URL has its scheme and host, whatever the Host header."""
    import aiohttp

    from metaserver.app import create_app
    from metaserver.core.users import create_user
    from metaserver.keys import NOTIFY_SERVER

    app = create_app(replace(server_config, block_urls=("http://127.0.0.1:9",), public_url="https://files.example.org"))
    runner, url = await start_site(app)
    try:
        async with pool.acquire() as conn:
            await create_user(conn, USER, PASSWORD)
        async with TesseraClient(url, retry=FAST_RETRY) as client:
            token = (await client.login(USER, PASSWORD, "d")).token
        port = app[NOTIFY_SERVER].port
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {token}", "Host": "attacker.example", "Accept": "application/json"}
            async with s.get(url + "/v1/changes/notify", headers=headers) as r:
                assert (await r.json()) == {"url": f"https://files.example.org:{port}{LONGPOLL_PATH}"}
    finally:
        await runner.cleanup()
    # without --public-url, the address the server listens on, not the Host header
    app = create_app(replace(server_config, block_urls=("http://127.0.0.1:9",)))
    runner, url = await start_site(app)
    try:
        port = app[NOTIFY_SERVER].port
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {token}", "Host": "attacker.example", "Accept": "application/json"}
            async with s.get(url + "/v1/changes/notify", headers=headers) as r:
                assert (await r.json()) == {"url": f"http://127.0.0.1:{port}{LONGPOLL_PATH}"}
    finally:
        await runner.cleanup()
