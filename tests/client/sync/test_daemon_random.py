"""Randomized convergence: random edits on several devices, some offline, then everything agrees.

Each run is seeded (``TESSERA_SYNC_SEED`` to replay one; the seed is printed
and named in every failure). Devices create, edit, rename and delete files and
folders in their own folders while their daemons run, or while they are
stopped. Names come from a small pool, so devices collide: the same file
edited on two sides, a folder deleted on one side while another adds to it, a
file renamed here and edited there.

Afterwards every folder is identical (and equal to the server's tree), and
every content ever written survives somewhere as a file (under its name or as
a conflicted copy) unless a device deliberately replaced or deleted the file
holding it: an edit or a delete marks only the content it saw on that disk.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from client.sync.local.disk import rename_noreplace

from .sync_harness import Device, Fleet, fleet_fixture, tessera_hash  # noqa: F401

FOLDERS = ("docs", "docs/old", "pics", "music/live")
NAMES = ("a.txt", "b.txt", "c.md", "d.bin", "notes")


class World:
    """The random edits, and what they wrote and what they destroyed.

    The daemons work on the folders while the edits happen, so every edit is
    made race-free, as a careful user would: a file is taken out of the folder
    by one atomic rename before its content counts as deliberately replaced,
    a write in place counts only if the file it went to is still the one in
    the folder afterwards, and renames never replace anything.
    """

    def __init__(self, rng: random.Random, big_every: int, trash: Path) -> None:
        self.rng = rng
        self.big_every = big_every
        self.trash = trash
        self.counter = 0
        self.written: dict[str, bytes] = {}  #: content hash -> the content (first bytes, for messages)
        self.replaced: set[str] = set()  #: contents a device deliberately overwrote or deleted

    def new_content(self, device: str) -> bytes:
        self.counter += 1
        head = f"{device} write {self.counter} {self.rng.random()}\n".encode()
        if self.big_every and self.counter % self.big_every == 0:
            return head + self.rng.randbytes(5 * 1024 * 1024)  # two blocks
        return head * self.rng.randrange(1, 200)

    def _wrote(self, data: bytes) -> str:
        self.written[tessera_hash(data)] = data[:80]
        return f"write {data.split(b' ', 3)[2].decode()}"

    def _replaced(self, data: bytes) -> str:
        self.replaced.add(tessera_hash(data))
        return f" (replacing {data.split(b' ', 3)[:3]!r})"

    def take_out(self, path: Path) -> str | None:
        """Move ``path`` (a file or a folder) out of the synced folder; its contents count as replaced."""
        self.counter += 1
        dest = self.trash / str(self.counter)
        try:
            os.rename(path, dest)
        except (FileNotFoundError, NotADirectoryError):
            return None
        files = [dest] if dest.is_file() else [Path(d) / f for d, _, fs in os.walk(dest) for f in fs]
        seen = "".join(self._replaced(f.read_bytes()) for f in files)
        if dest.is_dir():
            shutil.rmtree(dest)
        else:
            dest.unlink()
        return seen

    def write_new(self, target: Path, data: bytes) -> str:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except (FileExistsError, FileNotFoundError, NotADirectoryError):
            return "skip (the name is taken or the folder is gone)"
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return self._wrote(data)

    def write_in_place(self, target: Path, data: bytes) -> str:
        try:
            fd = os.open(target, os.O_RDWR | os.O_NOFOLLOW)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return "skip (gone)"
        try:
            old = b""
            while chunk := os.read(fd, 1 << 20):
                old += chunk
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            try:
                landed = os.stat(target).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                landed = False
        finally:
            os.close(fd)
        if not landed:  # the file was replaced under us: the write went nowhere
            return "skip (replaced meanwhile)"
        return self._wrote(data) + self._replaced(old)

    # -- one random step on one device's folder (blocking) ----------------------------------------

    def step(self, dev: Device) -> str:
        root = dev.root
        files: list[Path] = []
        folders: list[Path] = []
        for d, dirs, names in os.walk(root):  # walks on when the daemon removes something meanwhile
            folders += [Path(d) / n for n in dirs]
            files += [Path(d) / n for n in names if not n.startswith(".tessera")]
        roll = self.rng.random()
        data = self.new_content(dev.name)
        if roll < 0.35 or not files:
            target = root / self.rng.choice(("", *FOLDERS)) / self.rng.choice(NAMES)
        elif roll < 0.55:
            target = self.rng.choice(files)
        else:
            target = None
        if target is not None:
            where = f" to {target.relative_to(root)}"
            if self.rng.random() < 0.5 and os.path.isfile(target):
                return self.write_in_place(target, data) + where
            seen = self.take_out(target) if target.exists() else ""  # an atomic save
            return self.write_new(target, data) + where + (seen or "")
        if roll < 0.75:
            src = self.rng.choice(files + folders)
            dst = root / self.rng.choice(("", *FOLDERS))
            dst = dst / (self.rng.choice(NAMES) if src.is_file() else self.rng.choice(("x", "y", "z")))
            if dst == src or src in dst.parents:
                return "skip"
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                rename_noreplace(src, dst)
            except OSError:  # gone, taken, or a folder that is not empty
                return "skip"
            return f"rename {src.relative_to(root)} -> {dst.relative_to(root)}"
        target = self.rng.choice(files) if roll < 0.92 or not folders else self.rng.choice(folders)
        seen = self.take_out(target)
        return f"delete {target.relative_to(root)}{seen}" if seen is not None else "skip (gone)"


async def play(
    world: World, devs: list[Device], *, steps: int, offline_every: int, folder: str = ""
) -> None:
    """``steps`` random steps on the devices' folders (or their ``folder`` inside), every
    ``offline_every`` one device stopped or started again; every device runs at the end."""
    rng = world.rng
    for i in range(steps):
        dev = rng.choice(devs)
        where = SimpleNamespace(root=dev.root / folder, name=dev.name) if folder else dev
        what = await asyncio.to_thread(world.step, where)  # type: ignore[arg-type]
        print(f"step {i}: {dev.name} {what}")
        if offline_every and i % offline_every == offline_every - 1:
            toggled = rng.choice(devs)
            if toggled.running and sum(d.running for d in devs) > 1:
                print(f"  {toggled.name} goes offline")
                await toggled.stop()
            elif not toggled.running:
                print(f"  {toggled.name} comes back")
                toggled.start()
        if rng.random() < 0.3:
            await asyncio.sleep(rng.random() * 0.3)
    for d in devs:
        if not d.running:
            d.start()


async def _run(
    fleet: Fleet, *, seed: int, devices: int, steps: int, offline_every: int, big_every: int
) -> None:
    print(f"randomized sync test: seed {seed} (replay with TESSERA_SYNC_SEED={seed})")
    rng = random.Random(seed)
    trash = fleet.tmp_path / "trash"
    trash.mkdir()
    world = World(rng, big_every, trash)
    devs = [await fleet.add(f"dev{i}") for i in range(devices)]
    await play(world, devs, steps=steps, offline_every=offline_every)
    snap = await fleet.converged(within=150)

    present = {h for h in snap.values() if h is not None}
    lost = {h: data for h, data in world.written.items() if h not in world.replaced and h not in present}
    assert not lost, f"seed {seed}: contents lost: {list(lost.values())}"


async def test_random_edits_converge(fleet):
    seed = int(os.environ.get("TESSERA_SYNC_SEED") or random.randrange(1 << 32))
    await _run(fleet, seed=seed, devices=3, steps=40, offline_every=10, big_every=0)


@pytest.mark.soak
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("round_", range(5))
async def test_random_edits_converge_soak(fleet, round_):
    seed = int(os.environ.get("TESSERA_SYNC_SEED") or random.randrange(1 << 32))
    await _run(fleet, seed=seed, devices=3, steps=300, offline_every=25, big_every=40)
