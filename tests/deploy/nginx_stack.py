"""Debian's nginx running deploy/nginx/ in front of server subprocesses, for the deploy tests.

The files are used as they are; only what a site edits is changed: site.conf's listener,
certificate and log paths, and upstreams.conf's backend addresses (in the order listed).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_conf(port: int, cert: Path, key: Path, access_log: Path) -> str:
    text = (DEPLOY / "nginx" / "site.conf").read_text()
    text = re.sub(r"(?m)^listen \[::\]:443 ssl;\n", "", text)
    text = re.sub(r"(?m)^listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;", text)
    text = re.sub(r"(?m)^ssl_certificate .*;", f"ssl_certificate {cert};", text)
    text = re.sub(r"(?m)^ssl_certificate_key .*;", f"ssl_certificate_key {key};", text)
    return re.sub(r"(?m)^access_log \S+", f"access_log {access_log}", text)


def upstreams_conf(backends: dict[str, list[int]]) -> str:
    """upstreams.conf with each upstream's ``server`` addresses replaced by these ports, in order."""
    out, current, left = [], None, []
    for line in (DEPLOY / "nginx" / "upstreams.conf").read_text().splitlines():
        m = re.match(r"upstream (\w+) \{", line)
        if m:
            current, left = m.group(1), list(backends[m.group(1)])
        m = re.match(r"(    server )\d+\.\d+\.\d+\.\d+:\d+(.*)$", line)
        if m and current is not None:
            line = f"{m.group(1)}127.0.0.1:{left.pop(0)}{m.group(2)}"
        if line.startswith("}"):
            assert current is None or not left, (current, left)
            current = None
        out.append(line)
    return "\n".join(out) + "\n"


def main_conf(root: Path) -> str:
    temp = "\n".join(f"    {kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
{temp}
    include tessera.conf;
}}
"""


async def start_nginx(root: Path, port: int, cert: Path, key: Path, backends: dict[str, list[int]]):
    """nginx -p ROOT with deploy/nginx's files; returns the process once it answers on ``port``."""
    (root / "tessera").mkdir(parents=True)
    shutil.copy(DEPLOY / "nginx" / "tessera.conf", root / "tessera.conf")
    (root / "tessera" / "site.conf").write_text(site_conf(port, cert, key, root / "access.log"))
    (root / "tessera" / "upstreams.conf").write_text(upstreams_conf(backends))
    (root / "nginx.conf").write_text(main_conf(root))
    binary = nginx_binary()
    argv = [binary, "-p", str(root), "-c", str(root / "nginx.conf")]
    check = await asyncio.create_subprocess_exec(*argv, "-t", stderr=asyncio.subprocess.PIPE)
    _, err = await check.communicate()
    assert check.returncode == 0, err.decode()
    proc = await asyncio.create_subprocess_exec(*argv)
    for _ in range(100):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return proc
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("nginx did not start: " + (root / "error.log").read_text())


async def start_server(kind: str, args: list[str], env: dict) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metaserver.cli", kind, *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def wait_ready(url: str, within: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url + "/v1/health/ready") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"{url} not ready")
            await asyncio.sleep(0.1)


async def stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    if proc.returncode is None:
        proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
