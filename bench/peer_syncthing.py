"""A two-node Syncthing pair on loopback, the peer that scenarios small and delta compare against.

Both nodes get a home of their own (``syncthing generate``), then a config
written here: GUI/REST on 127.0.0.1 with an API key, listening on 127.0.0.1
only, global and local discovery, relays, NAT traversal, usage reporting,
crash reporting and upgrades all off, each node knowing the other by device ID
and address, and one shared send-receive folder with the file watcher off and
no periodic rescan: a sync starts only when the harness asks node A to rescan
through its REST API (``POST /rest/db/scan``), as issue 5 asks.

``SyncthingPair.sync(paths)`` rescans A and waits until every named file at B
has A's size and modification time (Syncthing writes to a temp file and renames
it into place, with A's mtime), and returns the seconds that took.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp

from . import trash
from .procs import Child, ChildFailed, Lifecycle, run_command

FOLDER_ID = "tessera-bench"
START_TIMEOUT = 60.0
CONNECT_TIMEOUT = 60.0
POLL_INTERVAL = 0.02
#: Syncthing keeps modification times to the nanosecond on Linux; allow for coarser file systems
MTIME_SLACK_NS = 1_000_000


def available() -> bool:
    return shutil.which("syncthing") is not None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _set(parent: ET.Element, tag: str, value: str) -> None:
    node = parent.find(tag)
    if node is None:
        node = ET.SubElement(parent, tag)
    node.text = value


class _Node:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.home = root / f"{name}-home"
        self.folder = root / f"{name}-folder"
        self.gui_port = _free_port()
        self.listen_port = _free_port()
        self.api_key = secrets.token_urlsafe(24)
        self.device_id = ""
        self.child: Child | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.gui_port}"

    async def generate(self) -> None:
        self.folder.mkdir(parents=True)
        code, out, err = await run_command(
            ["syncthing", "generate", f"--home={self.home}", "--no-default-folder", "--skip-port-probing"],
            time_limit=60,
        )
        found = re.search(r"Device ID:\s*([A-Z0-9-]{50,})", out + err)
        if code != 0 or not found:
            raise ChildFailed(f"syncthing generate failed ({code}): {(out + err).strip()[-500:]}")
        self.device_id = found.group(1)

    def configure(self, peer: _Node) -> None:
        path = self.home / "config.xml"
        tree = ET.parse(path)
        cfg = tree.getroot()
        gui = cfg.find("gui")
        assert gui is not None
        gui.set("tls", "false")
        _set(gui, "address", f"127.0.0.1:{self.gui_port}")
        _set(gui, "apikey", self.api_key)
        opts = cfg.find("options")
        assert opts is not None
        for tag, value in {
            "listenAddress": f"tcp://127.0.0.1:{self.listen_port}",
            "globalAnnounceEnabled": "false",
            "localAnnounceEnabled": "false",
            "relaysEnabled": "false",
            "natEnabled": "false",
            "urAccepted": "-1",
            "autoUpgradeIntervalH": "0",
            "startBrowser": "false",
            "crashReportingEnabled": "false",
            "setLowPriority": "false",
        }.items():
            _set(opts, tag, value)
        device = ET.SubElement(cfg, "device", {"id": peer.device_id, "name": peer.name, "compression": "never",
                                               "introducer": "false"})  # fmt: skip
        _set(device, "address", f"tcp://127.0.0.1:{peer.listen_port}")
        folder = ET.SubElement(cfg, "folder", {
            "id": FOLDER_ID, "label": FOLDER_ID, "path": str(self.folder), "type": "sendreceive",
            "rescanIntervalS": "0", "fsWatcherEnabled": "false", "ignorePerms": "false",
        })  # fmt: skip
        ET.SubElement(folder, "device", {"id": self.device_id})
        ET.SubElement(folder, "device", {"id": peer.device_id})
        tree.write(path)

    async def start(self, log_dir: Path) -> None:
        env = {**os.environ, "STNOUPGRADE": "1", "STNORESTART": "1"}
        self.child = Child(
            f"syncthing {self.name}",
            ["syncthing", "serve", f"--home={self.home}", "--no-browser", "--no-restart", "--no-upgrade",
             "--no-default-folder"],
            env=env, log_path=log_dir / f"syncthing-{self.name}.log",
        )  # fmt: skip
        await self.child.start({"api": r"(?:GUI|API) .*listening on (\S+)"}, START_TIMEOUT)

    async def stop(self) -> None:
        if self.child is not None:
            await self.child.stop()
            self.child = None


class SyncthingPair(Lifecycle):
    """Nodes A and B sharing one folder over 127.0.0.1 (async context manager)."""

    def __init__(self, parent_dir: Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tst", dir=parent_dir))
        self.a = _Node("a", self.root)
        self.b = _Node("b", self.root)
        self._session: aiohttp.ClientSession | None = None
        self.version = ""

    async def start(self) -> None:
        for node in (self.a, self.b):
            await node.generate()
        self.a.configure(self.b)
        self.b.configure(self.a)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600))
        await asyncio.gather(self.a.start(self.root), self.b.start(self.root))
        self.version = (await self._get(self.a, "/rest/system/version"))["version"]
        async with asyncio.timeout(CONNECT_TIMEOUT):
            while not await self._connected():  # noqa: ASYNC110 - polling another process's REST API
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        try:
            results = await asyncio.gather(self.a.stop(), self.b.stop(), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
        finally:
            if self._session is not None:
                await self._session.close()
                self._session = None
            await asyncio.to_thread(trash.remove_later, self.root)
        if failed:
            raise failed[0]

    async def _get(self, node: _Node, endpoint: str) -> dict:
        assert self._session is not None
        async with self._session.get(node.api + endpoint, headers={"X-API-Key": node.api_key}) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def _connected(self) -> bool:
        try:
            conns = (await self._get(self.a, "/rest/system/connections"))["connections"]
        except (aiohttp.ClientError, KeyError):
            return False
        return bool(conns.get(self.b.device_id, {}).get("connected"))

    async def scan(self) -> None:
        """Rescan A's folder (the request returns once the scan is done)."""
        assert self._session is not None
        async with self._session.post(
            f"{self.a.api}/rest/db/scan", params={"folder": FOLDER_ID}, headers={"X-API-Key": self.a.api_key}
        ) as resp:
            resp.raise_for_status()

    async def sync(self, rel_paths: list[str], deadline_s: float = 600.0) -> float:
        """Rescan A, then wait until B has every file as A has it; returns the seconds from the rescan."""
        want = await asyncio.to_thread(self._stats, self.a.folder, rel_paths)
        t0 = time.perf_counter()
        await self.scan()
        async with asyncio.timeout(deadline_s):
            while not await asyncio.to_thread(self._matches, rel_paths, want):  # noqa: ASYNC110 - polling B's disk
                await asyncio.sleep(POLL_INTERVAL)
        return time.perf_counter() - t0

    @staticmethod
    def _stats(root: Path, rel_paths: list[str]) -> list[tuple[int, int]]:
        out = []
        for rel in rel_paths:
            st = os.stat(root / rel)
            out.append((st.st_size, st.st_mtime_ns))
        return out

    def _matches(self, rel_paths: list[str], want: list[tuple[int, int]]) -> bool:
        for rel, (size, mtime) in zip(rel_paths, want, strict=True):
            try:
                st = os.stat(self.b.folder / rel)
            except FileNotFoundError:
                return False
            if st.st_size != size or abs(st.st_mtime_ns - mtime) > MTIME_SLACK_NS:
                return False
        return True
