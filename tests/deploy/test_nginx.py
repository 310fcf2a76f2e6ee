"""deploy/nginx/ in front of two metadata servers and two block servers (subprocesses, one
PostgreSQL, one block directory), TLS at nginx with a throwaway CA: two sync daemons sync files
through it; long-polls go to the notify endpoints and wake at once; a kill -9 of one metadata
and one block server loses nothing. Skipped only where nginx is not installed."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
import trustme

from metaserver.changes.longpoll import LONGPOLL_MAX
from tests.client.cli.cli_run import Tessera
from tests.deploy.nginx_stack import (
    DEPLOY,
    free_port,
    nginx_binary,
    start_nginx,
    start_server,
    stop,
    wait_ready,
)

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (make test-deps installs it)")


def test_the_notify_location_outwaits_the_longest_long_poll():
    conf = (DEPLOY / "nginx" / "tessera.conf").read_text()
    poll = re.search(r"location = /v1/changes/longpoll \{(.*?)\}", conf, re.S).group(1)
    assert int(re.search(r"proxy_read_timeout (\d+)s;", poll).group(1)) > LONGPOLL_MAX
    assert "proxy_next_upstream error;" in poll  # never retried, never failed, on a 503 or a timeout
    blocks = re.search(r"location /v1/blocks/ \{(.*?)\}", conf, re.S).group(1)
    assert int(re.search(r"client_max_body_size (\d+)m;", blocks).group(1)) * 2**20 > 64 * 2**20
    assert not re.search(r"(?m)^\s*proxy_next_upstream [^#]*non_idempotent", conf)  # POSTs are never retried


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".tessera" not in p.parts and not p.name.startswith(".")
    }


async def _until_same(a: Path, b: Path, want: dict[str, bytes], within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        if _tree(a) == want and _tree(b) == want:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"not in sync after {within} s: {sorted(_tree(a))} vs {sorted(_tree(b))}, want {sorted(want)}")


async def test_two_daemons_sync_through_nginx_in_front_of_two_of_each_server(database_url, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    (tmp_path / "cert.pem").write_bytes(b"".join(pem.bytes() for pem in cert.cert_chain_pems))

    public = free_port()
    url = f"https://127.0.0.1:{public}"
    meta_ports, notify_ports, block_ports = [free_port() for _ in range(2)], [free_port() for _ in range(2)], [free_port() for _ in range(2)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {"DATABASE_URL": database_url, "TESSERA_GRANT_SECRET": "deploy-test-secret-0123456789-0123456789"}
    common = ["--data-dir", str(tmp_path / "server"), "--gc-interval", "0"]
    procs: list[asyncio.subprocess.Process] = []
    nginx = None
    daemons: list[asyncio.subprocess.Process] = []
    try:
        for port in block_ports:
            procs.append(await start_server("block", [*common, "--block-port", str(port)], env))
        for port, notify in zip(meta_ports, notify_ports, strict=True):
            procs.append(await start_server("meta", [
                *common, "--meta-port", str(port), "--notify-port", str(notify), "--block-url", url, "--notify-url", url,
            ], env))  # fmt: skip
        for port in (*block_ports, *meta_ports, *notify_ports):
            await wait_ready(f"http://127.0.0.1:{port}")
        nginx = await start_nginx(tmp_path / "nginx", public, tmp_path / "cert.pem", tmp_path / "key.pem", {
            "tessera_meta": meta_ports, "tessera_blocks": block_ports, "tessera_notify": notify_ports,
        })  # fmt: skip
        add = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "metaserver.cli",
            "user", "add", "alice", "--password-stdin", "--data-dir", str(tmp_path / "server"),
            stdin=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        await add.communicate(b"pw-alice-long\n")
        assert add.returncode == 0

        folders = [tmp_path / "A", tmp_path / "B"]
        for i, folder in enumerate(folders):
            folder.mkdir()
            tessera = Tessera(tmp_path / f"cfg{i}", tmp_path)
            r = await tessera("login", "--server", url, "--user", "alice", "--password-stdin", "--device", f"d{i}",
                              "--ca-file", str(tmp_path / "ca.pem"), stdin=b"pw-alice-long\n")  # fmt: skip
            assert r.code == 0, r
            daemons.append(await tessera.start("sync", str(folder), stderr=asyncio.subprocess.DEVNULL))
        a, b = folders
        want: dict[str, bytes] = {}
        for name, size in (("one.txt", 10), ("docs/two.bin", 5 * 2**20 + 7), ("docs/three.txt", 3)):
            (a / name).parent.mkdir(parents=True, exist_ok=True)
            (a / name).write_bytes(os.urandom(size))
            want[name] = (a / name).read_bytes()
        (b / "from-b.txt").write_bytes(b"written on B")
        want["from-b.txt"] = b"written on B"
        await _until_same(a, b, want, within=60)

        # a change reaches the other daemon through a long-poll held by a notify endpoint: at once
        (a / "later.txt").write_bytes(b"later")
        want["later.txt"] = b"later"
        assert await _until_same(a, b, want, within=20) < 8

        # kill -9 one metadata server and one block server: nginx routes around them
        procs[0].send_signal(signal.SIGKILL)  # a block server
        procs[2].send_signal(signal.SIGKILL)  # a metadata server (and its notify endpoint)
        (b / "after-kill.bin").write_bytes(os.urandom(2**20))
        want["after-kill.bin"] = (b / "after-kill.bin").read_bytes()
        (a / "one.txt").write_bytes(b"edited after the kill")
        want["one.txt"] = b"edited after the kill"
        await _until_same(a, b, want, within=45)

        log = (tmp_path / "nginx" / "access.log").read_text()
        polls = [line for line in log.splitlines() if "/v1/changes/longpoll" in line]
        assert polls and all(re.search(rf"upstream=127\.0\.0\.1:({'|'.join(map(str, notify_ports))})", p) or " 502 " in p
                             for p in polls)  # fmt: skip
        assert re.search(r'"PUT /v1/blocks/\w+ HTTP/1.1" 200 .* rid=[0-9a-f]{16} ', log)
    finally:
        for proc in daemons:
            await stop(proc, signal.SIGINT)
        if nginx is not None:
            await stop(nginx, signal.SIGQUIT)
        for proc in procs:
            await stop(proc)
