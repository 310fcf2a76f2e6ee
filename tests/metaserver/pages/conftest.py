"""Fixtures of the web app's tests: both servers on 127.0.0.1 with the web app's origin known
to the block server (its CORS), and a browser-like HTTP client with a cookie jar."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, replace

import aiohttp
import pytest
from aiohttp import web

from metaserver.core.settings import ServerSettings
from tests.conftest import Servers


def bound_socket() -> socket.socket:
    """A listening socket on an ephemeral 127.0.0.1 port (so each server's URL is known before
    either starts: the metadata server names the block server, the block server the app)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class WebServers(Servers):
    runners: tuple[web.AppRunner, ...] = ()

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


async def start_web_servers(config: ServerSettings, pool, **overrides) -> WebServers:
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app

    meta_sock, block_sock = bound_socket(), bound_socket()
    meta_url = f"http://127.0.0.1:{meta_sock.getsockname()[1]}"
    block_url = f"http://127.0.0.1:{block_sock.getsockname()[1]}"
    config = replace(config, block_urls=(block_url,), public_url=meta_url, **overrides)
    runners = []
    for app, sock in ((create_block_app(config), block_sock), (create_meta_app(config), meta_sock)):
        runner = web.AppRunner(app, shutdown_timeout=2)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        runners.append(runner)
    return WebServers(config=config, meta_url=meta_url, block_url=block_url, pool=pool, runners=tuple(runners))


@pytest.fixture
async def web_servers(server_config, pool):
    servers = await start_web_servers(server_config, pool)
    yield servers
    await servers.stop()


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
NONCE_FIELD = re.compile(r'name="nonce" value="([^"]*)"')


class Browserish:
    """An aiohttp client that keeps cookies and signs in through the form, as a browser would."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.csrf = ""

    async def sign_in(self, user: str = "alice", password: str = "secret-pw") -> aiohttp.ClientResponse:
        async with self.session.get(self.url + "/login") as r:
            nonce = NONCE_FIELD.search(await r.text()).group(1)
        async with self.session.post(
            self.url + "/login", data={"user": user, "password": password, "nonce": nonce, "next": "/files/"}
        ) as r:
            page = await r.text()
        match = CSRF_META.search(page)
        self.csrf = match.group(1) if match else ""
        return r

    def request(self, method: str, path: str, **kw):
        return self.session.request(method, self.url + path, **kw)

    def api(self, method: str, path: str, body=None, *, csrf: bool = True, **kw):
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        headers.update(kw.pop("headers", {}))
        return self.session.request(method, self.url + path, json=body, headers=headers, **kw)


@pytest.fixture
async def browserish(web_servers):
    await web_servers.add_user()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield Browserish(session, web_servers.meta_url)
