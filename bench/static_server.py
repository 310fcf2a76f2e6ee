"""The bare aiohttp baseline server: ``python -m bench.static_server DIR``.

``GET /f/NAME`` answers with ``web.FileResponse`` (sendfile where the OS has
it); ``PUT /f/NAME`` streams the body to ``DIR/NAME.put`` (no hashing, no
fsync, no database). It prints ``static server: http://127.0.0.1:PORT`` once
it listens (ephemeral port) and serves until SIGTERM or SIGINT. This is the
ceiling an HTTP file transfer in Python reaches on this machine, with none of
Tessera's work: what Tessera adds shows as the difference.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

ROOT = web.AppKey("root", Path)
PIECE = 1024 * 1024
MAX_NAME = 200


def _target(request: web.Request) -> Path:
    name = request.match_info["name"]
    if "/" in name or name.startswith(".") or len(name) > MAX_NAME:
        raise web.HTTPBadRequest(text="bad name")
    return request.app[ROOT] / name


async def get_file(request: web.Request) -> web.StreamResponse:
    path = _target(request)
    if not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, chunk_size=PIECE)


async def put_file(request: web.Request) -> web.Response:
    path = _target(request).with_suffix(".put")
    received = 0
    with open(path, "wb") as f:  # noqa: ASYNC230 - bare on purpose: page-cache writes, as a naive server
        while piece := await request.content.read(PIECE):
            f.write(piece)
            received += len(piece)
    return web.json_response({"received": received})


def create_app(root: Path) -> web.Application:
    app = web.Application(client_max_size=PIECE)
    app[ROOT] = root
    app.router.add_get("/f/{name}", get_file)
    app.router.add_put("/f/{name}", put_file)
    return app


async def serve(root: Path) -> None:
    runner = web.AppRunner(create_app(root), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"static server: http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.static_server DIR")
    root = Path(sys.argv[1]).resolve()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(root))
    else:  # as tessera-server runs
        uvloop.run(serve(root))


if __name__ == "__main__":
    main()
