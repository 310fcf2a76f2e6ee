"""TLS without a proxy: --tls-cert/--tls-key serve HTTPS on the metadata, block and notify ports;
the client verifies certificates, against a custom CA given by --ca-file (and saved with the
login). The certificates come from a throwaway CA (trustme)."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace

import pytest
import trustme

from client import TesseraClient
from metaserver.cli.runner import serve
from metaserver.core.tls import server_ssl_context
from metaserver.keys import NOTIFY_SERVER
from protocol.errors import TesseraError
from tests.client.cli.cli_run import Tessera


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    d = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    for extra in cert.cert_chain_pems[1:]:
        with open(d / "cert.pem", "ab") as f:
            f.write(extra.bytes())
    return d


async def test_every_port_speaks_tls_and_the_client_checks_the_certificate(server_config, pool, tls_files, tmp_path):
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.users import create_user

    config = replace(
        server_config, tls_cert=tls_files / "cert.pem", tls_key=tls_files / "key.pem", extra={"gc_interval": 0}
    )
    tls = server_ssl_context(config.tls_cert, config.tls_key)
    block_runner, block_url = await serve(create_block_app(config), "127.0.0.1", 0, ssl_context=tls)
    meta_app = create_meta_app(replace(config, block_urls=(block_url,)))
    meta_runner, meta_url = await serve(meta_app, "127.0.0.1", 0, ssl_context=tls)
    assert meta_url.startswith("https://") and block_url.startswith("https://")
    ca = str(tls_files / "ca.pem")
    try:
        async with pool.acquire() as conn:
            await create_user(conn, "alice", "secret-pw")
        with pytest.raises(TesseraError) as refused:  # the system's CAs do not know ours
            async with TesseraClient(meta_url) as client:
                await client.login("alice", "secret-pw", "tls")
        assert refused.value.code == "tls_error"

        src = tmp_path / "f.bin"
        src.write_bytes(random.Random(5).randbytes(300_000))
        async with TesseraClient(meta_url, ca_file=ca) as client:
            await client.login("alice", "secret-pw", "tls")
            # the notify port, over TLS (an http:// notify URL would be refused for the meta port's route)
            notify_port = meta_app[NOTIFY_SERVER].port
            assert await client._longpoll.url() == f"https://127.0.0.1:{notify_port}/v1/changes/longpoll"
            cursor = await client.latest_cursor()
            poll = asyncio.create_task(client.longpoll(cursor, timeout=30))
            await asyncio.sleep(0.3)
            await client.upload_file(src, "/f.bin")
            assert (await asyncio.wait_for(poll, 10)).changes
            await client.download_file("/f.bin", tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()

        # the CLI: --ca-file at login is saved and used by later commands
        tessera = Tessera(tmp_path / "cfg", tmp_path)
        r = await tessera("login", "--server", meta_url, "--user", "alice", "--password-stdin", "--ca-file", ca,
                          stdin=b"secret-pw\n")  # fmt: skip
        assert r.code == 0, r
        saved = json.loads((tmp_path / "cfg" / "credentials.json").read_text())
        assert saved["ca_file"] == ca
        r = await tessera("ls", "/")
        assert r.code == 0 and "f.bin" in r.out, r
        r = await tessera("--ca-file", str(tls_files / "cert.pem"), "ls", "/")  # a bundle without the CA
        assert r.code != 0 and "tls_error" in r.err, r
    finally:
        await meta_runner.cleanup()
        await block_runner.cleanup()


async def _first_line(port: int, context, send: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        if send:
            writer.write(send)
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def test_the_connection_guards_hold_on_every_port_over_tls(server_config, tls_files):
    """TLS and the guarded connections together: a head that never ends is answered 408 after the
    header timeout, and a client address over its cap 429, on the metadata, block and notify ports."""
    import ssl

    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.connections import ConnectionLimits

    limits = ConnectionLimits(header_timeout=1.0, max_per_client=2)
    config = replace(server_config, tls_cert=tls_files / "cert.pem", tls_key=tls_files / "key.pem",
                     connections=limits, extra={"gc_interval": 0})  # fmt: skip
    tls = server_ssl_context(config.tls_cert, config.tls_key)
    block_runner, block_url = await serve(create_block_app(config), "127.0.0.1", 0, ssl_context=tls, limits=limits)
    meta_app = create_meta_app(replace(config, block_urls=(block_url,)))
    meta_runner, meta_url = await serve(meta_app, "127.0.0.1", 0, ssl_context=tls, limits=limits)
    client = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
    try:
        ports = [int(u.rsplit(":", 1)[1]) for u in (meta_url, block_url)] + [meta_app[NOTIFY_SERVER].port]
        for port in ports:
            partial = b"GET /v1/health/live HTTP/1.1\r\nHost: x\r\n"  # no blank line: the head never ends
            assert (await _first_line(port, client, partial)).startswith(b"HTTP/1.1 408"), port
            await asyncio.sleep(0.2)  # that connection is gone
            held = [await asyncio.open_connection("127.0.0.1", port, ssl=client) for _ in range(2)]
            try:
                assert (await _first_line(port, client)).startswith(b"HTTP/1.1 429"), port
            finally:
                for _, writer in held:
                    writer.close()
            await asyncio.sleep(0.3)
    finally:
        await meta_runner.cleanup()
        await block_runner.cleanup()
