"""Sending a block file's bytes straight from the page cache to the client's socket.

uvloop has no ``loop.sendfile``, so aiohttp's own ``FileResponse`` reads the
file into Python and writes it to the transport piece by piece. For a block
on local disk, :func:`send_file` does what the kernel can do alone instead:
``os.sendfile`` from the open block file to the connection's socket, with no
copy of the bytes through Python (≈ 1 CPU-s per GiB less on the server).

The transport keeps its own socket; the bytes go through a duplicate of its
file descriptor, so the socket stays open until the send is over even if the
connection is closed meanwhile (the descriptor number cannot be reused under
a send). Each ``sendfile`` call runs in a worker thread (the file's pages may
have to come from disk) and sends until the socket's buffer is full; the
event loop then waits for the socket to take more (``add_writer`` on the
duplicate), never a thread. A client that takes nothing for ``idle_timeout``
seconds is dropped.

The response's status line and headers are sent first, through the transport;
:func:`socket_for_sendfile` hands out the socket only once the transport has
nothing buffered. Headers the socket could not take at once (its buffer still
holds an earlier response) are waited for, briefly; a transport that stays
backed up past that is streamed to the ordinary way.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from .threads import run_to_completion

HEADERS_DRAIN_TIMEOUT = 0.25  # seconds to wait for queued headers to reach the socket
_DRAIN_POLL = 0.002


async def socket_for_sendfile(transport: asyncio.Transport | None) -> int | None:
    """A duplicate of the connection's socket descriptor, or None where sendfile cannot be used
    (TLS, no socket, bytes still queued in the transport after :data:`HEADERS_DRAIN_TIMEOUT`).
    The caller closes it."""
    if transport is None or transport.is_closing():
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return None
    if not await _drained(transport):
        return None
    sock: Any = transport.get_extra_info("socket")
    if sock is None:
        return None
    return os.dup(sock.fileno())


async def _drained(transport: asyncio.Transport) -> bool:
    """True once the transport has nothing queued (the event loop writes it out meanwhile),
    False if it still has after :data:`HEADERS_DRAIN_TIMEOUT` or is closing."""
    try:
        async with asyncio.timeout(HEADERS_DRAIN_TIMEOUT):
            # no event says "buffer empty" but the protocol's (aiohttp's) pause/resume: poll
            while transport.get_write_buffer_size() and not transport.is_closing():  # noqa: ASYNC110
                await asyncio.sleep(_DRAIN_POLL)
    except TimeoutError:
        return False
    return not transport.is_closing()


async def send_file(out_fd: int, in_fd: int, size: int, idle_timeout: float) -> None:
    """Send bytes ``0..size`` of ``in_fd`` to the socket ``out_fd`` (non-blocking).

    Raises ConnectionResetError when the client goes away, TimeoutError when
    it takes nothing for ``idle_timeout`` seconds, and OSError when the file
    is shorter than ``size`` or cannot be read.
    """
    loop = asyncio.get_running_loop()
    offset = 0
    while offset < size:
        sent = await run_to_completion(_send_until_full, out_fd, in_fd, offset, size - offset)
        if sent is None:
            raise OSError(f"the block file ended after {offset} of its {size} bytes")
        offset += sent
        if offset < size:
            await _writable(loop, out_fd, idle_timeout)


def _send_until_full(out_fd: int, in_fd: int, offset: int, count: int) -> int | None:
    """Bytes sent before the socket's buffer filled up (or all of ``count``); None at the file's end."""
    sent = 0
    while sent < count:
        try:
            n = os.sendfile(out_fd, in_fd, offset + sent, count - sent)
        except BlockingIOError:
            return sent
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ConnectionResetError(str(e)) from None
        if n == 0:
            return sent if sent else None
        sent += n
    return sent


async def _writable(loop: asyncio.AbstractEventLoop, fd: int, idle_timeout: float) -> None:
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        async with asyncio.timeout(idle_timeout):
            await ready
    finally:
        loop.remove_writer(fd)
