"""Block GETs through os.sendfile: whole, to slow readers, from a short file, to a client that
leaves, and after headers the socket could not take at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

import pytest

from blockserver import sendfile
from blockserver.sendfile import send_file, socket_for_sendfile
from blockserver.stores.local import LocalStore
from protocol import grants
from protocol.hashing import BLOCK_SIZE

from .conftest import random_bytes

local_only = pytest.mark.parametrize("backend", ["local"])


@contextlib.contextmanager
def block_file(path: Path, data: bytes):
    """``data`` written to ``path``, open for reading (a descriptor)."""
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def socket_pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


async def read_slowly(sock: socket.socket, n: int) -> bytes:
    """Read ``n`` bytes in small bites with pauses, so the sender keeps finding the socket full."""
    loop = asyncio.get_running_loop()
    got = bytearray()
    while len(got) < n:
        got += await loop.sock_recv(sock, 64 * 1024)
        await asyncio.sleep(0)
    return bytes(got)


async def test_send_file_sends_every_byte_through_a_full_socket(tmp_path: Path):
    data = random_bytes(3 * BLOCK_SIZE // 2 + 7)
    with socket_pair() as (a, b), block_file(tmp_path / "block", data) as f:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)  # full often: many waits
        sending = asyncio.ensure_future(send_file(a.fileno(), f, len(data), 30))
        got = await read_slowly(b, len(data))
        await sending
    assert got == data


async def test_send_file_of_a_file_shorter_than_the_block_raises(tmp_path: Path):
    with socket_pair() as (a, b), block_file(tmp_path / "block", b"x" * 1000) as f:
        with pytest.raises(OSError, match="ended after 1000 of its 2000 bytes"):
            await send_file(a.fileno(), f, 2000, 30)
        assert await asyncio.get_running_loop().sock_recv(b, 4096) == b"x" * 1000


async def test_send_file_to_a_closed_peer_is_a_connection_reset(tmp_path: Path):
    with socket_pair() as (a, b), block_file(tmp_path / "block", random_bytes(BLOCK_SIZE)) as f:
        b.close()
        with pytest.raises(ConnectionResetError):
            await send_file(a.fileno(), f, BLOCK_SIZE, 30)


@contextlib.asynccontextmanager
async def backed_up_transport(queued: int):
    """A real asyncio transport over one end of a socket pair, with ``queued`` bytes written to it
    that the socket could not take (the other end reads nothing yet); yields (transport, peer)."""
    a, b = socket.socketpair()
    b.setblocking(False)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=a)
    try:
        transport.write(b"h" * queued)
        assert transport.get_write_buffer_size() > 0, "the socket took everything: nothing queued"
        yield transport, b
    finally:
        transport.close()
        b.close()


async def _drain_peer(sock: socket.socket, n: int) -> None:
    loop = asyncio.get_running_loop()
    got = 0
    while got < n:
        got += len(await loop.sock_recv(sock, 1 << 20))


async def test_queued_headers_are_waited_for_then_the_socket_is_handed_out():
    queued = 8 << 20
    async with backed_up_transport(queued) as (transport, peer):
        reading = asyncio.ensure_future(_drain_peer(peer, queued))
        fd = await socket_for_sendfile(transport)
        assert fd is not None and transport.get_write_buffer_size() == 0
        os.close(fd)
        await reading


async def test_a_transport_that_stays_backed_up_is_streamed_to_instead(monkeypatch):
    monkeypatch.setattr(sendfile, "HEADERS_DRAIN_TIMEOUT", 0.05)
    async with backed_up_transport(8 << 20) as (transport, _peer):
        assert await socket_for_sendfile(transport) is None


@local_only
async def test_local_get_goes_through_sendfile(block_server, monkeypatch):
    # the handler hands the block file to the kernel: os.sendfile moves every byte of the body
    assert isinstance(block_server.store, LocalStore)
    data = random_bytes(BLOCK_SIZE)
    block_id = await block_server.upload(data)
    sent = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        n = real(out_fd, in_fd, offset, count)
        sent.append(n)
        return n

    monkeypatch.setattr(os, "sendfile", counting)
    r = await block_server.get(block_id, block_server.grant(grants.GET, block_id))
    assert r.status == 200 and r.body == data
    assert sum(sent) == BLOCK_SIZE
