"""The HTTP transport: one aiohttp session, msgpack bodies, errors, retries.

Every request of the client library goes through :class:`Transport`. It
encodes bodies with :mod:`protocol.codec`, turns non-2xx answers back into
:mod:`protocol.errors` kinds with ``error_from_wire``, turns network failures
into :class:`~client.api.errors.ConnectFailed` / :class:`~client.api.errors.ConnectionLost`
(both ``Unavailable``), and retries through :func:`client.api.retry.call_with_retry`.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from protocol import codec
from protocol.errors import (
    ProtocolError,
    SignedOut,
    SizeMismatch,
    TesseraError,
    Unauthorized,
    error_from_wire,
)

from .errors import BadServerURL, ConnectFailed, ConnectionLost, InsecureConnection
from .requestid import with_request_id
from .retry import DEFAULT_RETRY, RetryPolicy, call_with_retry

log = logging.getLogger(__name__)

USER_AGENT = "tessera-client/0.1"
GRANT_HEADER = "X-Tessera-Grant"
#: largest metadata answer accepted (a 1000-block page is ~300 KB; the server caps bodies at 64 MiB)
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_ERROR_BODY = 64 * 1024
_READ_CHUNK = 256 * 1024
#: a block body is written in pieces of this size, draining the socket between them
_WRITE_PIECE = 256 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Network timeouts in seconds (``None``: no limit)."""

    connect: float | None = 15.0
    #: longest silence while reading an answer
    read: float | None = 60.0
    #: whole request, including the body; None because a block on a slow link takes long
    total: float | None = None
    #: a block transfer that moves no byte (nor gets its answer) for this long is given up, and
    #: retried on the next block server: a hung server does not stall it (None: no limit)
    progress: float | None = 30.0

    def client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.total, sock_connect=self.connect, sock_read=self.read)


def check_server_url(url: str) -> str:
    """A server base URL without a trailing slash; BadServerURL if it is not http(s)://host."""
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError):
        raise BadServerURL(f"not a valid server URL: {url!r}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.query_string or parsed.fragment:
        raise BadServerURL(f"not a valid server URL: {url!r} (expected http://host[:port])")
    return str(parsed).rstrip("/")


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    if resp.content_length is not None and resp.content_length > limit:
        raise ProtocolError(f"answer of {resp.content_length} bytes exceeds the {limit}-byte limit")
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_READ_CHUNK):
        buf += chunk
        if len(buf) > limit:
            raise ProtocolError(f"answer exceeds the {limit}-byte limit")
    return bytes(buf)


async def error_from_response(resp: aiohttp.ClientResponse) -> TesseraError:
    body: Any = None
    try:
        data = await resp.content.read(MAX_ERROR_BODY)
        ctype = codec.media_type(resp.headers.get("Content-Type"))
        if data and ctype in codec.CONTENT_TYPES:
            body = codec.decode(data, ctype)
    except (TimeoutError, TesseraError, aiohttp.ClientError):
        body = None
    err = error_from_wire(resp.status, body)
    if isinstance(err, Unauthorized) and not isinstance(err, SignedOut) and "Authorization" in resp.request_info.headers:
        # a token the server does not know (its user was deleted, or another server): signed out too
        err = SignedOut(f"this device is signed out: {err.message.removesuffix(' (run `tessera login`)')}; "
                        "run `tessera login`")  # fmt: skip
    hint = _parse_retry_after(resp.headers.get("Retry-After"))
    if hint is not None:
        err.details.setdefault("retry_after", hint)
    return err


def network_error(exc: BaseException, method: str, url: str) -> TesseraError:
    """The domain error for an aiohttp / timeout failure of one request."""
    where = f"{method} {URL(url).with_query(None)}"
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
        return InsecureConnection(f"TLS failure talking to {URL(url).origin()}: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error)
        return ConnectFailed(f"cannot connect to {URL(url).origin()}: {reason}")
    if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
        return ConnectionLost(f"{where}: timed out")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ConnectionLost(f"{where}: the server closed the connection")
    return ConnectionLost(f"{where}: {type(exc).__name__}: {exc}")


NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)


class Transport:
    """One pooled aiohttp session shared by every request of one client."""

    def __init__(
        self,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeouts: Timeouts = Timeouts(),
        max_connections: int = 32,
        user_agent: str = USER_AGENT,
        ca_file: str | None = None,
    ) -> None:
        self.retry = retry
        self.timeouts = timeouts
        self._max_connections = max_connections
        self._user_agent = user_agent
        #: https:// servers' certificates are always verified: against the system's CAs, or
        #: against this PEM bundle only (a private CA or a self-signed certificate)
        self.ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext | bool:
        if self.ca_file is None:
            return True  # aiohttp's default: verified against the system's CAs
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise InsecureConnection(f"cannot use the CA file {self.ca_file}: {e}") from None

    async def open(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300, ssl=self._ssl())
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeouts.client_timeout(),
                headers={"User-Agent": self._user_agent},
                auto_decompress=True,
            )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the client is not open: use `async with TesseraClient(...)`")
        return self._session

    # -- metadata calls -------------------------------------------------------------

    async def call(
        self,
        method: str,
        url: str,
        *,
        token: str | None,
        params: Mapping[str, object] | None = None,
        body: Any = None,
        idempotent: bool,
        request_timeout: aiohttp.ClientTimeout | None = None,
    ) -> Any:
        """Send one msgpack request (with retries) and return the decoded answer."""
        headers = {"Accept": codec.MSGPACK}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data: bytes | None = None
        if body is not None:
            data = codec.pack(body)
            headers["Content-Type"] = codec.MSGPACK
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        extra: dict[str, Any] = {} if request_timeout is None else {"timeout": request_timeout}
        headers = with_request_id(headers)  # the same on every retry

        async def attempt(_: int) -> Any:
            try:
                async with self.session.request(
                    method, url, params=query, data=data, headers=headers, **extra
                ) as resp:
                    if resp.status >= 300:
                        raise await error_from_response(resp)
                    raw = await read_bounded(resp, MAX_ANSWER_BYTES)
                    ctype = codec.media_type(resp.headers.get("Content-Type"))
            except NETWORK_ERRORS as exc:
                raise network_error(exc, method, url) from exc
            if ctype not in codec.CONTENT_TYPES:
                raise ProtocolError(f"{method} {url}: unexpected content type {ctype or 'none'!r}")
            try:
                return codec.decode(raw, ctype)
            except TesseraError as e:
                raise ProtocolError(f"{method} {url}: undecodable answer: {e.message}") from None

        return await call_with_retry(self.retry, attempt, idempotent=idempotent, what=f"{method} {url}")

    # -- block transfers ----------------------------------------------------------------

    async def put_block(
        self,
        servers: Sequence[str],
        spread: int,
        block_id: str,
        *,
        token: str,
        grant: str,
        data: bytes | bytearray | memoryview,
    ) -> None:
        """PUT one block (retried; each retry goes to the next block server).

        ``data`` is sent in pieces straight from the caller's buffer, waiting for
        the socket to drain between them, so no copy of the block is made; the
        caller must not change it until this returns.
        """
        size = memoryview(data).nbytes
        headers = {
            "Authorization": f"Bearer {token}",
            GRANT_HEADER: grant,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            "Accept": codec.MSGPACK,
        }
        headers = with_request_id(headers)

        async def attempt(n: int) -> None:
            url = _block_url(servers, spread + n - 1, block_id)
            try:
                async with ProgressGuard(self.timeouts.progress, "PUT", url) as guard:
                    # a fresh body per attempt; an explicit Content-Length keeps it from being chunked
                    async with self.session.put(url, data=_pieces(data, guard), headers=headers) as resp:
                        guard.moved()
                        if resp.status >= 300:
                            raise await error_from_response(resp)
                        await read_bounded(resp, MAX_ERROR_BODY)
            except NETWORK_ERRORS as exc:
                raise network_error(exc, "PUT", url) from exc

        await call_with_retry(self.retry, attempt, idempotent=True, what=f"PUT block {block_id}")

    async def get_block(
        self, servers: Sequence[str], spread: int, block_id: str, *, token: str, grant: str, size: int
    ) -> list[bytes]:
        """GET one block of a known size (retried on transient failures, next server each time).

        Returns the body as the pieces it arrived in (no copy into one buffer:
        hash them and write them with ``os.pwritev``), at most ``size`` bytes
        held; a longer or shorter body raises SizeMismatch. Hashes are the
        caller's to check.
        """
        headers = with_request_id({"Authorization": f"Bearer {token}", GRANT_HEADER: grant})

        async def attempt(n: int) -> list[bytes]:
            url = _block_url(servers, spread + n - 1, block_id)
            try:
                async with ProgressGuard(self.timeouts.progress, "GET", url) as guard:
                    return await read(url, guard)
            except NETWORK_ERRORS as exc:
                raise network_error(exc, "GET", url) from exc

        async def read(url: str, guard: ProgressGuard) -> list[bytes]:
            async with self.session.get(url, headers=headers) as resp:
                guard.moved()
                if resp.status >= 300:
                    raise await error_from_response(resp)
                if resp.content_length is not None and resp.content_length != size:
                    raise SizeMismatch(
                        f"block {block_id}: server announced {resp.content_length} bytes, expected {size}"
                    )
                pieces: list[bytes] = []
                got = 0
                while True:
                    # one buffered piece at a time, as received: readchunk never joins pieces
                    piece, _ = await resp.content.readchunk()
                    if not piece:
                        if resp.content.at_eof():
                            break
                        continue  # the end of an HTTP chunk (chunked encoding)
                    guard.moved()
                    got += len(piece)
                    if got > size:
                        raise SizeMismatch(f"block {block_id}: more than the expected {size} bytes")
                    pieces.append(piece)
                if got != size:
                    raise SizeMismatch(f"block {block_id}: got {got} bytes, expected {size}")
                return pieces

        return await call_with_retry(self.retry, attempt, idempotent=True, what=f"GET block {block_id}")


class ProgressGuard:
    """Ends the request inside it (ConnectionLost) once ``timeout`` seconds pass without
    :meth:`moved`: a block server that accepted the connection and hangs (stopped, or its disk
    stuck) holds a transfer no longer than that; the retry goes to the next block server."""

    def __init__(self, timeout: float | None, method: str, url: str) -> None:
        self._timeout = timeout
        self._where = f"{method} {URL(url).with_query(None)}"
        self._cm: asyncio.Timeout | None = None

    async def __aenter__(self) -> ProgressGuard:
        if self._timeout is not None:
            self._cm = asyncio.timeout(None)
            await self._cm.__aenter__()
            self.moved()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool | None:
        if self._cm is None:
            return None
        try:
            return await self._cm.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            raise ConnectionLost(f"{self._where}: no progress for {self._timeout:g} s; trying elsewhere") from None

    def moved(self) -> None:
        """Bytes moved (or an answer came): the clock starts again."""
        if self._cm is not None and self._timeout is not None:
            self._cm.reschedule(asyncio.get_running_loop().time() + self._timeout)


async def _pieces(data: bytes | bytearray | memoryview, guard: ProgressGuard) -> AsyncIterator[memoryview]:
    """A block body in pieces (views into ``data``, not copies); each one written is progress."""
    view = memoryview(data).cast("B")
    for start in range(0, len(view), _WRITE_PIECE):
        yield view[start : start + _WRITE_PIECE]
        guard.moved()


def _block_url(servers: Sequence[str], spread: int, block_id: str) -> str:
    if not servers:
        raise ProtocolError("the server named no block server")
    return f"{servers[spread % len(servers)].rstrip('/')}/v1/blocks/{block_id}"
