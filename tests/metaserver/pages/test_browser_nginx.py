"""The web app through deploy/nginx (TLS at nginx, /v1/blocks/ to the block servers,
/v1/changes/longpoll to the notify endpoints, the rest to the metadata servers): sign in,
upload, see a change made elsewhere, download. Skipped where nginx is not installed."""

from __future__ import annotations

import os
import time

import pytest
import trustme

from tests.deploy.nginx_stack import free_port, nginx_binary, start_nginx, stop
from tests.metaserver.pages.conftest import put_file, sign_in_page, start_web_servers

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (make test-deps installs it)"),
]
MiB = 1024 * 1024


def _tls_files(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    (tmp_path / "cert.pem").write_bytes(b"".join(pem.bytes() for pem in cert.cert_chain_pems))


async def test_the_app_through_nginx(browser, server_config, database_url, tmp_path, monkeypatch):
    from metaserver.core import db

    _tls_files(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # the metadata server fetches blocks via nginx
    public, notify = free_port(), free_port()
    url = f"https://127.0.0.1:{public}"
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    servers = await start_web_servers(server_config, pool, public_url=url, block_urls=(url,), notify_port=notify)
    nginx = None
    context = await browser.new_context(ignore_https_errors=True)
    try:
        meta_port, block_port = (int(u.rsplit(":", 1)[1]) for u in (servers.meta_url, servers.block_url))
        nginx = await start_nginx(tmp_path / "nginx", public, tmp_path / "cert.pem", tmp_path / "key.pem", {
            "tessera_meta": [meta_port] * 2, "tessera_blocks": [block_port] * 2, "tessera_notify": [notify] * 2,
        })  # fmt: skip
        await servers.add_user()
        page = await context.new_page()
        await sign_in_page(page, url)
        cookie = next(c for c in await context.cookies() if c["name"] == "tessera_session")
        assert cookie["secure"] and cookie["httpOnly"]  # https public URL: a Secure cookie

        data = os.urandom(9 * MiB)
        (tmp_path / "via-nginx.bin").write_bytes(data)
        await page.set_input_files("#pick-files", str(tmp_path / "via-nginx.bin"))
        await page.wait_for_selector('#uploads[data-state="done"]', timeout=60_000)  # PUTs to nginx's /v1/blocks/

        token = await servers.login()
        await put_file(servers, token, "/made elsewhere.txt", b"hello")  # straight to the servers
        start = time.monotonic()
        await page.locator('tr[data-path="/made elsewhere.txt"]').wait_for(timeout=3000)  # the page's /poll
        assert time.monotonic() - start < 3

        async with page.expect_download() as info:
            await page.get_by_role("link", name="Download via-nginx.bin").click()
        assert (await (await info.value).path()).read_bytes() == data
        log = (tmp_path / "nginx" / "access.log").read_text()
        assert "PUT /v1/blocks/" in log and "GET /poll?" in log
    finally:
        await context.close()
        if nginx is not None:
            await stop(nginx)
        await servers.stop()
        await pool.close()
