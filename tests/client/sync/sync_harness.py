"""Running real sync daemons against the real servers, in-process, for the sync tests.

Each :class:`Device` is one logged-in device of the same user: its own synced
folder, config dir, device token, :class:`TesseraClient` and
:class:`SyncDaemon` (run as an asyncio task in the test's loop, next to the
servers). The helpers wait with generous timeouts and never assert on timing.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client import RetryPolicy, TesseraClient
from client.api.errors import FileChanged
from client.sync.daemon import SyncDaemon, syncing_device
from client.sync.settings import SyncSettings
from client.transfer.filehash import hash_file
from protocol import paths
from protocol.hashing import content_hash
from tests.client.conftest import PASSWORD, USER
from tests.conftest import eventually as shared_eventually

#: quick to notice and retry, so the tests converge fast
TEST_SETTINGS = SyncSettings(
    rescan_interval=20.0,
    watch_step_ms=50,
    watch_max_ms=400,
    longpoll_timeout=30,
    retry_base=0.2,
    retry_max=2.0,
    recheck_delay=0.1,
)
#: retries that give up within seconds (a daemon retries whole actions itself)
TEST_RETRY = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.5, deadline=10.0)
#: how long a test waits for devices to agree
CONVERGE_TIMEOUT = 90.0

#: a snapshot: path relative to the folder -> content hash (None for a folder)
Snapshot = dict[str, str | None]
#: numbers the values of files caught being written, so that no two snapshots agree on one
_changing = itertools.count()


#: waits as long as devices may take to agree
eventually = functools.partial(shared_eventually, within=CONVERGE_TIMEOUT)


async def until(predicate: Callable[[], bool], what: str, *, within: float = CONVERGE_TIMEOUT) -> None:
    """:func:`eventually` for a plain predicate."""

    async def check() -> bool:
        return predicate()

    await eventually(check, what, within=within)


def snapshot_blocking(root: Path) -> Snapshot:
    """Every file and folder under ``root`` (temp files and the like included: they must not linger).

    A file being written while it is hashed (a daemon's download temp file) gets a value no other
    snapshot has, so that no two snapshots agree while a daemon is still writing; one removed
    meanwhile is left out.
    """
    out: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        for d in dirs:
            out[(rel / d).as_posix()] = None
        for f in files:
            try:
                digest = hash_file(Path(folder) / f).content_hash
            except FileNotFoundError:
                continue
            except FileChanged:
                digest = f"changing ({next(_changing)})"
            out[(rel / f).as_posix()] = digest
    return out


def tessera_hash(data: bytes) -> str:
    """The Tessera content hash of ``data`` (SHA-256 over its 4 MiB blocks' SHA-256s)."""
    block = 4 * 1024 * 1024
    return content_hash(hashlib.sha256(data[i : i + block]).hexdigest() for i in range(0, len(data), block))


async def snapshot(root: Path) -> Snapshot:
    return await asyncio.to_thread(snapshot_blocking, root)


async def remote_snapshot(client: TesseraClient, folder: str = paths.ROOT) -> Snapshot:
    """The server's tree in the same form."""
    out: Snapshot = {}
    async for e in client.list_entries(folder):
        rel = e.path.lstrip("/")
        if e.is_folder:
            out[rel] = None
            out.update(await remote_snapshot(client, e.path))
        else:
            out[rel] = e.content_hash
    return out


@dataclass
class Device:
    """One device of the test user: a folder kept in sync by its own daemon."""

    name: str
    root: Path
    config_dir: Path
    token: str
    client: TesseraClient
    settings: SyncSettings = TEST_SETTINGS
    user: str = USER
    daemon: SyncDaemon | None = None
    task: asyncio.Task[None] | None = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> SyncDaemon:
        assert not self.running, f"{self.name} is already running"
        self.stop_event = asyncio.Event()
        self.daemon = SyncDaemon(
            self.root,
            self.client,
            config_dir=self.config_dir,
            device=self.name,
            settings=self.settings,
            user=self.user,
        )
        self.task = asyncio.create_task(self.daemon.run(self.stop_event), name=f"daemon-{self.name}")
        return self.daemon

    async def stop(self) -> None:
        """A clean stop (as on Ctrl-C); raises what the daemon raised, if anything."""
        if self.task is None:
            return
        self.stop_event.set()
        task, self.task = self.task, None
        await asyncio.wait_for(task, 60)

    @property
    def idle(self) -> bool:
        return self.running and self.daemon is not None and self.daemon.idle

    def path(self, rel: str) -> Path:
        return self.root / rel

    async def write(self, rel: str, data: bytes) -> Path:
        p = self.path(rel)

        def go() -> None:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)

        await asyncio.to_thread(go)
        return p

    async def read(self, rel: str) -> bytes:
        return await asyncio.to_thread(self.path(rel).read_bytes)


class Fleet:
    """The devices of one test, all the same user's."""

    def __init__(self, servers, tmp_path: Path) -> None:
        self.servers = servers
        self.tmp_path = tmp_path
        self.devices: list[Device] = []

    async def add(
        self, name: str, *, start: bool = True, settings: SyncSettings = TEST_SETTINGS, user: str = USER,
        password: str = PASSWORD,
    ) -> Device:
        token = await self.servers.login(user, password, device=name)
        client = TesseraClient(self.servers.meta_url, token, retry=TEST_RETRY)
        await client.__aenter__()
        root = self.tmp_path / name / "folder"
        root.mkdir(parents=True)
        dev = Device(name, root, self.tmp_path / name / "config", token, client, settings, user)
        self.devices.append(dev)
        if start:
            dev.start()
        return dev

    async def close(self) -> None:
        for d in self.devices:
            if d.task is not None:
                d.task.cancel()
                await asyncio.gather(d.task, return_exceptions=True)
            await d.client.close()

    async def converged(self, *devices: Device, within: float = CONVERGE_TIMEOUT) -> Snapshot:
        """Wait until the devices (default: all) are idle with identical folders, equal to the server's tree."""
        devices = devices or tuple(self.devices)
        last: list[Snapshot | None] = [None]

        async def check() -> bool:
            if not all(d.idle for d in devices):
                return False
            snaps = [await snapshot(d.root) for d in devices]
            if any(s != snaps[0] for s in snaps[1:]):
                return False
            if not all(d.idle for d in devices):
                return False
            remote = await remote_snapshot(devices[0].client)
            if remote != snaps[0]:
                return False
            stable = last[0] == snaps[0]
            last[0] = snaps[0]
            return stable

        try:
            await eventually(check, "the devices to converge", within=within)
        except AssertionError:
            await show(devices)
            raise
        assert last[0] is not None
        return last[0]


async def show(devices: tuple[Device, ...], folder: str = paths.ROOT) -> None:
    """Print what each device holds and does, and the server's tree (or its ``folder``)."""
    for d in devices:
        status = d.daemon.status.to_json() if d.daemon is not None else None
        print(f"--- {d.name}: running={d.running} idle={d.idle} status={status}")
        print(f"    folder: {await snapshot(d.root)}")
    print(f"--- server: {await remote_snapshot(devices[0].client, folder)}")


@contextmanager
def device_logs() -> Iterator[None]:
    """Prefix the log messages of each in-process daemon with its device name."""
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        device = syncing_device.get(None)
        if device is not None and record.name.startswith("client."):
            record.msg = f"[{device}] {record.msg}"
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


@pytest.fixture(name="fleet")
async def fleet_fixture(servers, tmp_path) -> AsyncIterator[Fleet]:
    await servers.add_user(USER, PASSWORD)
    f = Fleet(servers, tmp_path)
    with device_logs():
        try:
            yield f
        finally:
            await f.close()


@pytest.fixture(name="counted_fleet")
async def counted_fleet_fixture(counted, tmp_path) -> AsyncIterator[Fleet]:
    await counted.servers.add_user(USER, PASSWORD)
    f = Fleet(counted.servers, tmp_path)
    with device_logs():
        try:
            yield f
        finally:
            await f.close()
