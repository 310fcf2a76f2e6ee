"""Long-polling the change feed: where to poll, and the poll with its own read timeout.

A metadata server may name a notify endpoint (``GET /v1/changes/notify``) that holds the
long-polls for it; :class:`LongPoller` asks for it once, polls there, and falls back to the
metadata server's own ``/v1/changes/longpoll`` when the server names none or the endpoint
cannot be reached (asking again at the next poll: it may be back).

The device token goes wherever the notify URL points, so the URL is checked first
(:func:`check_notify_url`): it must use the server URL's scheme or a stronger one (an
``https`` server cannot send the token over ``http``) and its host, unless the host is one the
user trusts (``notify_hosts``); a refused URL is logged and the metadata server's own route is
polled instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import aiohttp
from yarl import URL

from protocol.errors import NotFound, ProtocolError
from protocol.messages.changes import LongPoll

from .errors import ConnectFailed
from .transport import Transport

#: how much longer than the poll's own timeout a long-poll answer may take to arrive
LONGPOLL_GRACE = 30.0
#: the metadata server's own long-poll route (the notify endpoint serves the same path)
LONGPOLL_PATH = "/v1/changes/longpoll"

#: one metadata-server request of the client (method, endpoint, keyword arguments)
MetadataCall = Callable[..., Awaitable[Any]]

log = logging.getLogger(__name__)


def check_notify_url(server_url: str, notify_url: str, trusted_hosts: Collection[str] = ()) -> str | None:
    """Why the client must not send its token to ``notify_url`` (None: it may)."""
    server, notify = URL(server_url), URL(notify_url)
    if notify.scheme not in ("http", "https") or not notify.host:
        return "it is not an http(s) URL"
    if server.scheme == "https" and notify.scheme != "https":
        return "the server is https and the notify URL is not"
    host = notify.host.lower()
    if host != (server.host or "").lower() and host not in {h.lower() for h in trusted_hosts}:
        return f"its host {notify.host} is not the server's ({server.host}); trust it with --notify-host"
    return None


class LongPoller:
    """The long-polls of one client (see the module docstring)."""

    def __init__(
        self,
        transport: Transport,
        server_url: str,
        call: MetadataCall,
        token: Callable[[], str],
        trusted_hosts: Collection[str] = (),
    ) -> None:
        self._http = transport
        self._server_url = server_url
        self._call = call
        self._token = token
        self._trusted = tuple(trusted_hosts)
        self._url: str | None = None

    async def url(self) -> str:
        """The notify endpoint the server names, or the metadata server's own route if it names none."""
        if self._url is None:
            try:
                answer = await self._call("GET", "/v1/changes/notify", idempotent=True)
            except NotFound:  # a server older than the notify endpoint
                self._url = self._server_url + LONGPOLL_PATH
            else:
                url = answer.get("url") if isinstance(answer, dict) else None
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    raise ProtocolError("notify: the answer has no http(s) URL")
                refused = check_notify_url(self._server_url, url, self._trusted)
                if refused is not None:
                    log.warning("not long-polling at %s (%s); polling the server itself", url, refused)
                    url = self._server_url + LONGPOLL_PATH
                self._url = url
        return self._url

    async def poll(self, cursor: str, timeout: int) -> LongPoll:  # noqa: ASYNC109 (the server waits)
        """One long-poll after ``cursor``, read with ``timeout`` plus :data:`LONGPOLL_GRACE`."""
        base = self._http.timeouts
        wait = aiohttp.ClientTimeout(
            total=None, sock_connect=base.connect, sock_read=timeout + LONGPOLL_GRACE
        )
        url = await self.url()
        params = {"cursor": cursor, "timeout": int(timeout)}

        async def poll(where: str) -> Any:
            return await self._http.call(
                "GET", where, token=self._token(), params=params, idempotent=True, request_timeout=wait
            )

        try:
            answer = await poll(url)
        except ConnectFailed:
            fallback = self._server_url + LONGPOLL_PATH
            if url == fallback:
                raise
            self._url = None  # ask again next time: the notify endpoint may be back
            answer = await poll(fallback)
        return LongPoll.from_wire(answer)
