"""Serving an aiohttp application on a guarded listening socket (:mod:`.connections`).

:func:`start_site` is how every aiohttp server of Tessera listens (the ``tessera-server``
commands and the tests alike): an ``AppRunner`` whose site wraps each connection in a
:class:`~.connections.GuardedProtocol`, with aiohttp's own keep-alive timeout set to the same
idle timeout. With an SSL context the site serves HTTPS (``--tls-cert``): the guard then sits
on the decrypted side of each connection (it sees the requests, as without TLS), and a TLS
handshake must be done within the header timeout.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .connections import ConnectionLimits, ConnectionTracker

BACKLOG = 1024


class _ClientFaults(logging.Filter):
    """aiohttp logs a request it cannot parse (a line too long, a malformed head) as an error with
    a traceback; it is the client's fault, answered 400: one line at INFO, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and (exc.code or 400) < 500:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = f"{record.getMessage()}: {exc.message or type(exc).__name__}"[:500]
            record.args = ()
            record.exc_info = record.exc_text = None
        return True


_FILTER = _ClientFaults()


def quiet_client_faults() -> None:
    """Install the filter on aiohttp's server logger (once)."""
    logger = logging.getLogger("aiohttp.server")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are guarded by a :class:`ConnectionTracker`."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        limits: ConnectionLimits,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, backlog=BACKLOG, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self.tracker = ConnectionTracker(limits)

    @property
    def scheme(self) -> str:
        return "https" if self._ssl_context is not None else "http"

    @property
    def name(self) -> str:
        return f"{self.scheme}://{self._host}:{self._port}"

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (after start)."""
        if self._server is not None and self._server.sockets:
            host, port = self._server.sockets[0].getsockname()[:2]
            return host, port
        return self._host, self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self.tracker.start()
        tls = self._ssl_context
        self._server = await asyncio.get_running_loop().create_server(
            self.tracker.factory(server), self._host, self._port, backlog=BACKLOG, reuse_address=True,
            ssl=tls, ssl_handshake_timeout=self.tracker.limits.header_timeout if tls is not None else None,
        )  # fmt: skip

    async def stop(self) -> None:
        await super().stop()
        await self.tracker.close()


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    limits: ConnectionLimits,
    *,
    shutdown_timeout: float = 10.0,
    ssl_context: ssl.SSLContext | None = None,
    flag: str = "",
) -> tuple[web.AppRunner, str]:
    """Run ``app`` on ``host:port`` (0: an ephemeral port; HTTPS with ``ssl_context``); returns the
    runner and the URL it is at. A port that cannot be had is an OSError naming ``flag``, the
    option that changes it."""
    quiet_client_faults()
    runner = web.AppRunner(
        app, shutdown_timeout=shutdown_timeout, access_log=None, keepalive_timeout=limits.idle_timeout
    )
    await runner.setup()
    site = GuardedSite(runner, host, port, limits, ssl_context)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        hint = f" (change it with {flag})" if flag else ""
        raise OSError(e.errno, f"cannot listen on {host}:{port}{hint}: {e.strerror}") from None
    bound_host, bound_port = site.address
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"{site.scheme}://{shown}:{bound_port}"
