"""Running the servers: database start-up, serving until a signal, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from ..core import migrate
from ..core.connections import ConnectionLimits
from ..core.serving import start_site
from ..core.settings import ServerSettings
from ..core.tls import server_ssl_context

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def database(database_url: str | None, data_dir: Path) -> AsyncIterator[str]:
    """Yield a DSN: ``database_url`` if given, else an embedded PostgreSQL under ``data_dir``."""
    if database_url:
        yield database_url
        return
    from ..core.embedded_pg import EmbeddedPostgres

    pg = EmbeddedPostgres(data_dir)
    dsn = await asyncio.to_thread(pg.start)
    try:
        yield dsn
    finally:
        await asyncio.to_thread(pg.stop)


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    flag: str = "",
    ssl_context: ssl.SSLContext | None = None,
    limits: ConnectionLimits | None = None,
) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``host:port`` with guarded connections (:mod:`..core.serving`; ``limits``,
    default ConnectionLimits()), HTTPS with ``ssl_context``; the runner and the URL.

    A port that cannot be had is an OSError that names ``flag``, the option that changes it."""
    return await start_site(
        app, host, port, limits or ConnectionLimits(), shutdown_timeout=SHUTDOWN_TIMEOUT, ssl_context=ssl_context,
        flag=flag,
    )  # fmt: skip


def _notify_url(runner: web.AppRunner, meta_url: str) -> str:
    """The notify endpoint's base URL, as the operator would reach it (the metadata server's host)."""
    from yarl import URL

    from ..keys import NOTIFY_SERVER, SETTINGS

    app = runner.app
    if app[SETTINGS].notify_url:
        return app[SETTINGS].notify_url
    return str(URL(meta_url).with_port(app[NOTIFY_SERVER].port))


async def wait_for_signal() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_servers(settings: ServerSettings, *, meta: bool, block: bool, announce) -> None:
    """Migrate, start the chosen servers, serve until SIGINT/SIGTERM, shut down cleanly."""
    from blockserver.app import create_app as create_block_app

    from ..app import create_app as create_meta_app

    async with database(settings.database_url or None, settings.data_dir) as dsn:
        settings = replace(settings, database_url=dsn)
        applied = await migrate.apply_dsn(dsn)
        if applied:
            log.info("applied migrations %s", applied)
        runners: list[web.AppRunner] = []
        try:
            urls: dict[str, str] = {}
            tls = server_ssl_context(settings.tls_cert, settings.tls_key)
            if block:
                runner, urls["block"] = await serve(
                    create_block_app(settings), settings.host, settings.block_port, flag="--block-port",
                    ssl_context=tls, limits=settings.connections,
                )  # fmt: skip
                runners.append(runner)
                if not settings.block_urls:
                    settings = replace(settings, block_urls=(urls["block"],))
            if meta:
                if not settings.block_urls:
                    raise SystemExit("the metadata server needs at least one --block-url")
                runner, urls["meta"] = await serve(
                    create_meta_app(settings), settings.host, settings.meta_port, flag="--meta-port",
                    ssl_context=tls, limits=settings.connections,
                )  # fmt: skip
                runners.append(runner)
                urls["notify"] = _notify_url(runner, urls["meta"])
            announce(urls, settings)
            await wait_for_signal()
            log.info("shutting down")
        finally:
            for runner in reversed(runners):
                await runner.cleanup()
