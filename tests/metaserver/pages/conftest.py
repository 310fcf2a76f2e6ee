"""Fixtures of the web app's tests: both servers on 127.0.0.1 with the web app's origin known
to the block server (its CORS), and a browser-like HTTP client with a cookie jar."""

from __future__ import annotations

import io
import os
import re
import socket
from dataclasses import dataclass, replace

import aiohttp
import pytest
import pytest_asyncio
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
    """Both servers on 127.0.0.1; ``block_urls`` in ``overrides`` may name a callable of the real
    block server's URL (to put others around it)."""
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app

    meta_sock, block_sock = bound_socket(), bound_socket()
    meta_url = f"http://127.0.0.1:{meta_sock.getsockname()[1]}"
    block_url = f"http://127.0.0.1:{block_sock.getsockname()[1]}"
    if callable(overrides.get("block_urls")):
        overrides["block_urls"] = overrides["block_urls"](block_url)
    config = replace(config, **{"block_urls": (block_url,), "public_url": meta_url, **overrides})
    runners = []
    try:
        for app, sock in ((create_block_app(config), block_sock), (create_meta_app(config), meta_sock)):
            runner = web.AppRunner(app, shutdown_timeout=2)
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, sock).start()
    except BaseException:
        for runner in reversed(runners):
            await runner.cleanup()
        meta_sock.close()
        block_sock.close()
        raise
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


# ---- a real browser: Debian's Chromium driven by Playwright (one per test session) ----

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _no_browser_reason() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        return f"no Chromium at {CHROMIUM_PATH} (make test-deps installs it; CHROMIUM_PATH overrides the path)"
    return None


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def browser():
    """One headless Chromium for the whole test session; each test gets its own context."""
    reason = _no_browser_reason()
    if reason:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM_PATH, headless=True)
        yield b
        await b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def live(server_config, database_url):
    """Both servers and a user (alice), in the session's event loop (the browser's)."""
    from metaserver.core import db

    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    servers = await start_web_servers(server_config, pool)
    await servers.add_user()
    yield servers
    await servers.stop()
    await pool.close()


@dataclass
class Tab:
    """A page in a fresh browser context, with what it said: dialogs opened, console errors."""

    page: object
    url: str
    dialogs: list
    console: list
    errors: list
    #: whether confirm() dialogs are accepted (they are dismissed, and noted, unless a test says so)
    accept_dialogs: bool = False

    async def sign_in(self, user: str = "alice", password: str = "secret-pw") -> None:
        await sign_in_page(self.page, self.url, user, password)


async def sign_in_page(page, url: str, user: str = "alice", password: str = "secret-pw") -> None:
    """Sign ``page`` in through the form at ``url``, as a person would."""
    await page.goto(url + "/login")
    await page.get_by_label("User name").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/files/")


@pytest_asyncio.fixture(loop_scope="session")
async def tab(browser, live):
    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()
    tab = Tab(page, live.meta_url, [], [], [])

    async def on_dialog(d):
        tab.dialogs.append(d.message)
        await (d.accept() if tab.accept_dialogs else d.dismiss())

    page.on("dialog", on_dialog)
    page.on("console", lambda m: tab.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    yield tab
    await context.close()


async def skip_unless_route(servers: Servers, token: str, endpoint: str) -> None:
    """Skip a test of a page whose API route this server does not have yet (it comes with
    another part of the project); once the route is there, the test runs."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.get(servers.meta_url + endpoint) as r:
            body = await r.json()
    if r.status == 404 and "no such endpoint" in body.get("error", {}).get("message", ""):
        pytest.skip(f"this server has no {endpoint.split('?')[0]} yet")


async def put_file(servers: Servers, token: str, path: str, data: bytes) -> dict:
    """Upload ``data`` to ``path`` as a device would (session, block PUTs, commit)."""
    from tests.metaserver.conftest import blocks_of

    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as s:
        async with s.post(f"{servers.meta_url}/v1/uploads", json={"path": path, "size": len(data),
                                                                   "blocks": blocks_of(data)}) as r:
            session = await r.json()
            assert r.status == 200, session
        for b in session["blocks"]:
            if b.get("grant"):
                start = b["index"] * 4 * 1024 * 1024
                async with s.put(f"{servers.block_url}/v1/blocks/{b['block_id']}",
                                 data=io.BytesIO(data[start:start + 4 * 1024 * 1024]), headers={"X-Tessera-Grant": b["grant"]}) as r:
                    assert r.status == 200, await r.text()
        async with s.post(f"{servers.meta_url}/v1/uploads/{session['upload_id']}/commit", json={}) as r:
            meta = await r.json()
            assert r.status == 200, meta
            return meta


async def api_call(servers: Servers, token: str, method: str, endpoint: str, body=None, **params):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async with s.request(method, servers.meta_url + endpoint, json=body, params=params or None) as r:
            return r.status, await r.json()
