"""One server and the way to it: its URL, the device token, the pooled HTTP transport.

:class:`Connection` is what every request of :class:`~client.api.client.ApiClient` goes through;
it opens and closes the transport (use the client as an async context manager).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from .errors import NotLoggedIn
from .retry import DEFAULT_RETRY, RetryPolicy
from .transport import Timeouts, Transport, check_server_url

#: blocks transferred at once per file (memory is about this many times 4 MiB)
DEFAULT_TRANSFER_CONCURRENCY = 6


class Connection:
    """The server at ``server_url``, reached with ``token`` (None: not logged in yet).

    An ``https://`` server's certificate is verified against the system's CAs, or against
    ``ca_file`` (a PEM bundle) when given.

    ``transfer_concurrency`` is for the whole-file transfers built on the requests
    (:mod:`client.transfer`): the blocks of one file sent or fetched at once. ``notify_hosts``:
    hosts besides the server's own where it may send its token for long-polls
    (:mod:`client.api.longpoll`).
    """

    def __init__(
        self,
        server_url: str,
        token: str | None = None,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeouts: Timeouts = Timeouts(),
        max_connections: int = 32,
        transfer_concurrency: int = DEFAULT_TRANSFER_CONCURRENCY,
        notify_hosts: tuple[str, ...] = (),
        ca_file: str | None = None,
    ) -> None:
        if transfer_concurrency < 1:
            raise ValueError("transfer_concurrency must be at least 1")
        self.server_url = check_server_url(server_url)
        self.token = token
        self.transfer_concurrency = transfer_concurrency
        #: hosts other than the server's that this client long-polls at when the server names them
        self.notify_hosts = notify_hosts
        self.transport = Transport(
            retry=retry, timeouts=timeouts, max_connections=max_connections, ca_file=ca_file
        )

    async def __aenter__(self) -> Self:
        await self.transport.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    def require_token(self) -> str:
        """The device token; NotLoggedIn without one."""
        if not self.token:
            raise NotLoggedIn()
        return self.token

    async def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, object] | None = None,
        body: Any = None,
        idempotent: bool,
        auth: bool = True,
    ) -> Any:
        """One metadata-server request (``endpoint``: the path under the server URL)."""
        return await self.transport.call(
            method,
            self.server_url + endpoint,
            token=self.require_token() if auth else None,
            params=params,
            body=body,
            idempotent=idempotent,
        )
