"""Two ``tessera sync`` daemons, A and B: two devices of one account, each with its own folder.

Each daemon is the real command in a subprocess (``tessera --config-dir DIR
sync FOLDER``), logged in first with ``tessera login --password-stdin``. A file
is placed in A's folder atomically (written beside it, then renamed in), and
B "has it" once the file shows under its name with its full size: the daemon
downloads to a hidden temp file and renames it into place only when complete
and verified. :meth:`DaemonPair.wait_for_version` waits for a new version of a
file B already has (a new inode under its name, the content checked against
A's file).

Daemon A may be given another metadata URL than B (``a_server_url``: e.g. a
byte-counting proxy, so that A's metadata traffic is counted apart from B's).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path

from . import files, trash
from .procs import Child, ChildFailed, Lifecycle, run_command, venv_script
from .servers import Account, ServerStack

READY_TIMEOUT = 120.0
POLL_INTERVAL = 0.01


class _Daemon:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.config = root / f"{name}-config"
        self.folder = root / f"{name}-folder"
        self.child: Child | None = None


class DaemonPair(Lifecycle):
    """Daemons A and B on one account (async context manager)."""

    def __init__(
        self,
        stack: ServerStack,
        account: Account,
        parent_dir: Path | None = None,
        *,
        a_server_url: str | None = None,
    ) -> None:
        self.stack = stack
        self.account = account
        self._server_urls = {"a": a_server_url or stack.meta_url, "b": stack.meta_url}
        self.root = Path(tempfile.mkdtemp(prefix="tdm", dir=parent_dir))
        self.a = _Daemon("a", self.root)
        self.b = _Daemon("b", self.root)
        self.staging = self.root / "staging"
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}

    async def start(self) -> None:
        await asyncio.to_thread(self.staging.mkdir)
        tessera = venv_script("tessera", "client.cli")
        for d in (self.a, self.b):
            await asyncio.to_thread(d.folder.mkdir)
            code, _out, err = await run_command(
                [*tessera, "--config-dir", str(d.config), "login", "--server", self._server_urls[d.name],
                 "--user", self.account.user, "--password-stdin", "--device", f"bench-sync-{d.name}"],
                env=self._env, stdin=(self.account.password + "\n").encode(),
            )  # fmt: skip
            if code != 0:
                raise ChildFailed(f"tessera login ({d.name}) failed ({code}): {err.strip()}")
            d.child = Child(
                f"tessera sync {d.name}",
                [*tessera, "--config-dir", str(d.config), "sync", str(d.folder)],
                env=self._env,
                log_path=self.root / f"sync-{d.name}.log",
            )
            await d.child.start({}, READY_TIMEOUT)
        # ready once a first file makes it from A to B
        probe = f"probe-{secrets.token_hex(4)}.txt"
        placed = await self.place(probe, b"probe\n")
        await self.wait_at_b({probe: 6}, READY_TIMEOUT, since=placed)

    async def stop(self) -> None:
        children = [d.child for d in (self.a, self.b) if d.child is not None]
        self.a.child = self.b.child = None
        try:
            results = await asyncio.gather(*(c.stop() for c in children), return_exceptions=True)
        finally:
            await asyncio.to_thread(trash.remove_later, self.root)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    def alive(self) -> bool:
        return all(d.child is not None and d.child.proc is not None and d.child.proc.returncode is None
                   for d in (self.a, self.b))  # fmt: skip

    async def place(self, rel: str, data: bytes | Path) -> float:
        """Put a file into A's folder atomically (rename); returns when it appeared there (perf_counter)."""
        return await asyncio.to_thread(self._place, rel, data)

    async def place_all(self, staged: dict[str, Path]) -> float:
        """Rename every staged file or folder into A's folder (``rel`` -> staged path) in one worker
        thread call, back to back; returns when the first appeared (perf_counter).

        One call, not one per entry: with the daemons busy on the first entries, a thread hop per
        rename can wait for a core, and the tree would trickle in over a second or more.
        """
        return await asyncio.to_thread(self._place_all, staged)

    def _place_all(self, staged: dict[str, Path]) -> float:
        first = 0.0
        for rel, data in staged.items():
            placed = self._place(rel, data)
            first = first or placed
        return first

    def _place(self, rel: str, data: bytes | Path) -> float:
        target = self.a.folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            staged = data
        else:
            staged = self.staging / f"{secrets.token_hex(6)}.part"
            staged.write_bytes(data)
        os.replace(staged, target)
        return time.perf_counter()

    async def wait_at_b(self, sizes: dict[str, int], deadline_s: float, since: float) -> dict[str, float]:
        """Wait until B has every file (full size); returns seconds from ``since`` for each.

        Each look stops at the first file B does not have yet (:meth:`_arrived`),
        so a file may be stamped a little after it arrived, but the time at which
        B has them all (the last stamp) is exact to the poll interval.
        """
        seen: dict[str, float] = {}
        pending = dict(sizes)
        try:
            async with asyncio.timeout(deadline_s):
                while pending:
                    now = time.perf_counter()
                    for rel in await asyncio.to_thread(self._arrived, pending):
                        seen[rel] = now - since
                        del pending[rel]
                    if pending:
                        if not self.alive():
                            raise ChildFailed(f"a sync daemon exited; log in {self.root}")
                        await asyncio.sleep(POLL_INTERVAL)
        except TimeoutError:
            raise TimeoutError(f"B did not get {len(pending)} file(s) within {deadline_s:g} s") from None
        return seen

    async def wait_for_version(
        self, rel: str, size: int, previous: int | None, deadline_s: float, since: float
    ) -> tuple[float, int]:
        """Wait until B's ``rel`` is a new file (not inode ``previous``) of ``size`` bytes with A's content.

        Returns (seconds from ``since`` until that file appeared at B, its inode).
        A new file whose content is not yet A's (an intermediate version) is
        skipped; the content is compared once per new inode, and the time
        taken by the comparison is not counted.
        """
        checked = previous
        try:
            async with asyncio.timeout(deadline_s):
                while True:
                    now = time.perf_counter()
                    st = await asyncio.to_thread(_stat_or_none, self.b.folder / rel)
                    if st is not None and st.st_ino != checked and st.st_size == size:
                        checked = st.st_ino
                        if await asyncio.to_thread(files.same_content, self.a.folder / rel, self.b.folder / rel):
                            return now - since, st.st_ino
                    if not self.alive():
                        raise ChildFailed(f"a sync daemon exited; log in {self.root}")
                    await asyncio.sleep(POLL_INTERVAL)
        except TimeoutError:
            raise TimeoutError(f"B did not get the new version of {rel} within {deadline_s:g} s") from None

    def _arrived(self, pending: dict[str, int]) -> list[str]:
        """The pending files B has, in order, up to the first it does not have yet.

        Stopping there keeps the harness off the CPU it is timing: a stat of
        each of 2,000 pending files every 10 ms took most of a core from the
        daemons on a 2-core machine (the Syncthing pair's check stops at the
        first file missing too).
        """
        out = []
        for rel, size in pending.items():
            try:
                if os.stat(self.b.folder / rel).st_size != size:
                    break
            except FileNotFoundError:
                break
            out.append(rel)
        return out


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
