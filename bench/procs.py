"""Child processes the harness starts, and stops again whatever happens.

Each child runs in a session of its own, so a Ctrl-C in the terminal reaches
only the harness, which then stops its children in order: SIGTERM, a bounded
wait, SIGKILL as the last resort. Everything a child prints on stderr goes to a
log file; the last lines are quoted when it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0


class ChildFailed(RuntimeError):
    """A child process exited early or did not announce itself in time."""


def venv_script(name: str, module: str) -> list[str]:
    """The console script ``name`` beside this interpreter, else ``python -m module``."""
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", module]


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Child:
    """A long-running child that announces what it listens on by printing lines on stdout."""

    def __init__(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._log_file = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    async def start(self, patterns: Mapping[str, str], time_limit: float) -> dict[str, str]:
        """Start the child and wait for one stdout line matching each pattern; returns group 1 of each."""
        self._log_file = await asyncio.to_thread(open, self.log_path, "ab")  # closed in stop()
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log_file,
            env=self.env,
            start_new_session=True,
        )
        found: dict[str, str] = {}
        compiled = {key: re.compile(p) for key, p in patterns.items()}
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(time_limit):
                while len(found) < len(compiled):
                    line = (await self.proc.stdout.readline()).decode(errors="replace")
                    if not line:
                        await self.proc.wait()
                        raise ChildFailed(
                            f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                            f"{tail(self.log_path)}"
                        )
                    for key, rx in compiled.items():
                        if key not in found and (m := rx.search(line)):
                            found[key] = m.group(1)
        except TimeoutError:
            raise ChildFailed(
                f"{self.name} did not announce itself within {time_limit:g} s:\n{tail(self.log_path)}"
            ) from None
        self._drain = asyncio.create_task(_drain(self.proc.stdout), name=f"{self.name}-stdout")
        return found

    async def stop(self, grace: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait up to ``grace`` s, then SIGKILL. Returns the exit code."""
        proc, self.proc = self.proc, None
        try:
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), grace)
                except TimeoutError:
                    log.warning("%s did not stop within %g s after SIGTERM; killing it", self.name, grace)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
            if self._drain is not None:
                self._drain.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._drain
            return proc.returncode if proc is not None else None
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None


async def _drain(stream: asyncio.StreamReader) -> None:
    """Read what a child still prints, so it never blocks on a full pipe."""
    while await stream.read(65536):
        pass


async def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    time_limit: float = 120.0,
    cwd: Path | None = None,
) -> tuple[int, str, str]:
    """Run a short command to completion (killed after ``time_limit`` s); returns (code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), time_limit)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def stop_strays(marker: str) -> list[int]:
    """SIGINT (PostgreSQL's fast shutdown) to leftover processes whose command line names ``marker``.

    ``marker`` is a temp directory only this harness run created, so this finds
    exactly the embedded PostgreSQL a killed server left behind (pg_ctl detaches
    it from its parent), never anything else.
    """
    import psutil

    stopped = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.pid != os.getpid() and any(marker in part for part in cmdline):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGINT)
                stopped.append(proc.pid)
    return stopped


@dataclass
class Measured:
    """A finished command: exit code, output, wall time and the kernel's exact peak RSS."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    maxrss: int


async def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    time_limit: float = 3600.0,
    on_start: Callable[[int], object] | None = None,
) -> Measured:
    """Run a command and reap it with ``wait4``, which gives its exact peak RSS (``ru_maxrss``).

    ``on_start(pid)`` is called once it runs (e.g. to sample its memory over time).
    Output goes through temp files, so a chatty child never blocks on a full pipe.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        t = time.perf_counter()
        # Popen, not asyncio's subprocesses: only a wait4 we make ourselves yields the child's rusage
        proc = subprocess.Popen(  # noqa: ASYNC220 - fork+exec returns at once
            list(argv), stdin=inp, stdout=out, stderr=err, env=dict(env) if env else None, start_new_session=True
        )
        if on_start is not None:
            on_start(proc.pid)
        reaped = asyncio.ensure_future(asyncio.to_thread(os.wait4, proc.pid, 0))
        try:
            _pid, status, usage = await asyncio.wait_for(asyncio.shield(reaped), time_limit)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await reaped  # the thread returns as soon as the killed child is reaped
            proc.returncode = -9
            raise
        seconds = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
            usage.ru_maxrss * 1024,  # KiB on Linux
        )


class Lifecycle:
    """``async with``: ``start()``, and ``stop()`` on the way out — also when ``start()`` fails."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self):
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
