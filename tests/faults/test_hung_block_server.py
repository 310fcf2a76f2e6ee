"""A hung block server (it accepts connections and then neither reads nor answers, as one that
got SIGSTOP does) holds a block transfer only for the progress timeout; the transfer moves on
to the other block server the metadata server lists. On main, the 4 MiB PUT stalled forever
and the GET for 61 s."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

from client import TesseraClient, Timeouts
from tests.conftest import start_site
from tests.faults.conftest import PASSWORD, RETRY, USER, write_file


class Hangable:
    """A TCP proxy in front of a real block server that, once hung, forwards nothing either way
    and keeps every connection open (new ones are accepted and ignored too)."""

    def __init__(self, port: int) -> None:
        self._target = port
        self.hung = False
        self.url = ""
        self.stalled = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Hangable:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.hung:
                self.stalled += 1
                await asyncio.Event().wait()  # a stopped process: the kernel accepted, nobody reads
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self._target)
            self._writers.add(up_w)
            await asyncio.gather(self._pump(reader, up_w), self._pump(up_r, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                writer.close()
                return
            while self.hung:
                self.stalled += 1
                await asyncio.Event().wait()
            writer.write(data)
            await writer.drain()


async def test_a_hung_block_server_is_left_for_another(server_config, pool, tmp_path: Path):
    from blockserver.app import create_app as create_block_app
    from metaserver.app import create_app as create_meta_app
    from metaserver.core.users import create_user

    config = replace(server_config, extra={**server_config.extra, "gc_interval": 0})
    first_runner, first_url = await start_site(create_block_app(config))
    second_runner, second_url = await start_site(create_block_app(config))
    hangable = await Hangable(int(first_url.rsplit(":", 1)[1])).start()
    meta_runner, meta_url = await start_site(create_meta_app(replace(config, block_urls=(hangable.url, second_url))))
    try:
        async with pool.acquire() as conn:
            await create_user(conn, USER, PASSWORD)
        src = write_file(tmp_path / "big.bin", 8 * 1024 * 1024 + 5, seed=3)
        timeouts = Timeouts(progress=1.0)
        async with TesseraClient(meta_url, retry=RETRY, timeouts=timeouts, transfer_concurrency=2) as client:
            await client.login(USER, PASSWORD, "d")
            hangable.hung = True
            started = time.monotonic()
            await asyncio.wait_for(client.upload_file(src, "/big.bin"), 30)
            put_time = time.monotonic() - started
            started = time.monotonic()
            out = tmp_path / "out.bin"
            await asyncio.wait_for(client.download_file("/big.bin", out), 30)
            get_time = time.monotonic() - started
        assert out.read_bytes() == src.read_bytes()
        assert hangable.stalled > 0  # the hung server was tried, and given up
        print(f"upload {put_time:.1f} s, download {get_time:.1f} s past a hung block server")
        assert put_time < 15 and get_time < 15
    finally:
        await meta_runner.cleanup()
        await hangable.close()
        await first_runner.cleanup()
        await second_runner.cleanup()
