"""The servers under test: ``tessera-server run`` as a real subprocess on 127.0.0.1.

A :class:`ServerStack` starts, in a temp directory of its own, the embedded
PostgreSQL and both servers (or uses ``DATABASE_URL`` when given), on
ephemeral ports read back from what the server prints; creates users with
``tessera-server user add --password-stdin``; logs devices in; and stops it
all again with SIGTERM, even when the benchmark fails or is interrupted.

Options put a byte-counting proxy in front of the block server (the metadata
server then hands clients the proxy's URL) and of the metadata server, and
keep blocks in S3 instead of on local disk: on moto's server (its own process)
or on a service the user names, under a prefix the stack empties when it stops
(bench/s3_target.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yarl import URL

from . import trash
from .procs import Child, ChildFailed, Lifecycle, run_command, stop_strays, venv_script
from .proxy import CountingProxy
from .s3_target import S3Target

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0
USER_ADD_TIMEOUT = 120.0
META_LINE = r"metadata server:\s+(http://\S+)"
BLOCK_LINE = r"block server:\s+(http://\S+)"


@dataclass(frozen=True)
class StackOptions:
    #: keep blocks in S3 (moto's server on 127.0.0.1) instead of on local disk
    s3: bool = False
    #: keep blocks in this S3 service instead (its bucket must exist; bench/s3_target.py)
    s3_target: S3Target | None = None
    #: put a byte-counting proxy in front of the block server
    count_block_bytes: bool = False
    #: give clients a byte-counting proxy in front of the metadata server
    count_meta_bytes: bool = False
    #: an external PostgreSQL instead of the embedded one
    database_url: str | None = None
    #: extra `tessera-server run` flags (e.g. ("--rate-limit", "0"))
    server_args: tuple[str, ...] = ()


@dataclass
class Account:
    user: str
    password: str
    tokens: list[str] = field(default_factory=list)


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for the servers: ours, minus settings that would point them elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_") and k != "DATABASE_URL"}
    env.update(extra)
    return env


class ServerStack(Lifecycle):
    """Both Tessera servers (and what they need) for one scenario; an async context manager."""

    def __init__(self, options: StackOptions | None = None, *, parent_dir: Path | None = None) -> None:
        self.options = options or StackOptions()
        # short: the embedded PostgreSQL's Unix socket path must stay under ~100 bytes
        self.root = Path(tempfile.mkdtemp(prefix="tb", dir=parent_dir))
        self.data_dir = self.root / "srv"
        self.server: Child | None = None
        self.s3: Child | None = None
        self.block_proxy: CountingProxy | None = None
        self.meta_proxy: CountingProxy | None = None
        self.meta_url = ""
        self.block_url = ""
        #: where the blocks are when they are in S3 (moto's, or the options' target), and under what prefix
        self.s3_target: S3Target | None = None
        self.s3_prefix = ""
        self._env: dict[str, str] = {}
        self._unclean = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        extra: dict[str, str] = {"TESSERA_GRANT_SECRET": secrets.token_hex(32)}
        if self.options.database_url:
            extra["DATABASE_URL"] = self.options.database_url
        argv = [
            *venv_script("tessera-server", "metaserver.cli"),
            "run",
            "--data-dir", str(self.data_dir),
            "--host", "127.0.0.1",
            "--meta-port", "0",
            "--block-port", "0",
            "--log-level", "warning",
        ]  # fmt: skip
        if self.options.s3_target is not None:
            self.s3_target = self.options.s3_target
            self.s3_prefix = S3Target.new_prefix()
        elif self.options.s3:
            self.s3_target = await self._start_s3()
        if self.s3_target is not None:
            extra.update(self.s3_target.server_env())
            argv += self.s3_target.server_args(self.s3_prefix)
        if self.options.count_block_bytes:
            self.block_proxy = CountingProxy()
            await self.block_proxy.start()
            argv += ["--block-url", self.block_proxy.url]
        argv += self.options.server_args
        self._env = _clean_env(extra)
        self.server = Child("tessera-server", argv, env=self._env, log_path=self.root / "server.log")
        urls = await self.server.start({"meta": META_LINE, "block": BLOCK_LINE}, START_TIMEOUT)
        self.meta_url, self.block_url = urls["meta"], urls["block"]
        if self.block_proxy is not None:
            real = URL(self.block_url)
            self.block_proxy.set_upstream(real.host or "127.0.0.1", real.port or 80)
        if self.options.count_meta_bytes:
            real = URL(self.meta_url)
            self.meta_proxy = CountingProxy((real.host or "127.0.0.1", real.port or 80))
            await self.meta_proxy.start()
        log.info("servers up: metadata %s, block %s (data in %s)", self.meta_url, self.block_url, self.root)

    @property
    def s3_endpoint(self) -> str:
        return self.s3_target.endpoint if self.s3_target is not None else ""

    async def _start_s3(self) -> S3Target:
        self.s3 = Child(
            "moto S3 server",
            [sys.executable, "-m", "bench.s3_server"],
            env=_clean_env({}),
            log_path=self.root / "s3.log",
        )
        found = await self.s3.start({"endpoint": r"s3 endpoint:\s+(http://\S+)"}, START_TIMEOUT)
        target = S3Target.moto(found["endpoint"])
        await asyncio.to_thread(target.create_bucket)
        return target

    async def stop(self) -> None:
        """Stop everything this stack started and remove its temp directory."""
        errors: list[BaseException] = []
        for proxy in (self.meta_proxy, self.block_proxy):
            if proxy is not None:
                try:
                    await proxy.close()
                except Exception as e:  # keep stopping the rest
                    errors.append(e)
        self.meta_proxy = self.block_proxy = None
        if self.server is not None:
            code = await self.server.stop()
            self.server = None
            if code not in (0, None):
                self._unclean = True
                log.warning("tessera-server exited with %s; log: %s", code, self.root / "server.log")
        if self.s3 is not None:
            await self.s3.stop()
            self.s3 = None
        if self.s3_prefix and self.s3_target is not None:
            try:
                removed = await asyncio.to_thread(self.s3_target.remove_prefix, self.s3_prefix)
                log.info("removed %d objects under s3://%s/%s", removed, self.s3_target.bucket, self.s3_prefix)
                self.s3_prefix = ""
            except Exception as e:  # say so: the user's bucket keeps them
                log.warning("could not empty s3://%s/%s: %s", self.s3_target.bucket, self.s3_prefix, e)
                errors.append(e)
        if self._unclean and not self.options.database_url:
            # a killed server leaves its detached PostgreSQL behind: stop it before removing its files
            if stopped := stop_strays(str(self.data_dir / "pg")):
                log.warning("stopped a leftover embedded PostgreSQL (pids %s)", stopped)
                await asyncio.sleep(2)
        await asyncio.to_thread(trash.remove_later, self.root)
        if errors:
            raise errors[0]

    # -- what clients see ------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.server is not None, "not started"
        return self.server.pid

    @property
    def client_meta_url(self) -> str:
        """The metadata URL to give clients: through the counting proxy when there is one."""
        return self.meta_proxy.url if self.meta_proxy is not None else self.meta_url

    def database_url(self) -> str:
        """The DSN of the stack's database: ``DATABASE_URL``, or the embedded cluster's socket."""
        from metaserver.core.embedded_pg import running_dsn

        dsn = self.options.database_url or running_dsn(self.data_dir)
        if dsn is None:
            raise ChildFailed(f"no database is running under {self.data_dir}")
        return dsn

    def server_log_tail(self) -> str:
        from .procs import tail

        return tail(self.root / "server.log")

    # -- users and devices -------------------------------------------------------------------------

    async def add_user(self, user: str | None = None, password: str | None = None) -> Account:
        """Create a user with ``tessera-server user add --password-stdin``."""
        user = user or f"bench-{secrets.token_hex(4)}"
        password = password or secrets.token_urlsafe(16)
        argv = [
            *venv_script("tessera-server", "metaserver.cli"),
            "user", "add", user, "--password-stdin", "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        code, _out, err = await run_command(
            argv, env=self._env, stdin=(password + "\n").encode(), time_limit=USER_ADD_TIMEOUT
        )
        if code != 0:
            raise ChildFailed(f"tessera-server user add {user} failed ({code}): {err.strip()}")
        return Account(user, password)

    async def login(self, account: Account, device: str | None = None) -> str:
        """Log a new device of ``account`` in; returns (and remembers) its token."""
        from client import TesseraClient

        async with TesseraClient(self.meta_url) as client:
            result = await client.login(account.user, account.password, device or f"dev-{secrets.token_hex(3)}")
        account.tokens.append(result.token)
        return result.token

    async def new_account(self, devices: int = 1) -> Account:
        account = await self.add_user()
        for i in range(devices):
            await self.login(account, f"bench-device-{i}")
        return account

    def client(self, token: str, **kw: Any):
        """A :class:`client.TesseraClient` for ``token`` (through the metadata proxy if there is one)."""
        from client import TesseraClient

        return TesseraClient(self.client_meta_url, token, **kw)
