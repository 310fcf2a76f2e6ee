"""``/zip/{path}``: a folder as a zip archive, streamed in constant memory.

The standard library's ``zipfile`` writes into a sink that cannot seek, so every entry
gets a data descriptor after its bytes (sizes and CRC need not be known up front) and
ZIP64 records where a file or the archive passes 4 GiB. Entries are stored, not
compressed (most large files are compressed already; the server's CPU stays free).
Each block is read verified (:mod:`.blocks`), written through ``zipfile`` and sent
before the next is taken: memory holds a few blocks and the folder's entry rows, a page
at a time.

A folder of the home tree holds the shares mounted below it: each comes after the home's
entries, at its mount path, read from its own namespace with grants of it (a member reads
every share they are mounted, whatever their role).
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from protocol import paths
from protocol.errors import NotAFolder, TesseraError

from ..core import db
from ..keys import POOL
from ..sharing.places import mounts_of, resolve
from ..tree import entries
from ..web.auth import authenticate
from .blocks import BlockReader, reader_for
from .download import disposition
from .paths import url_tree_path

ROWS_PAGE = 1000
#: the earliest time a zip entry can carry
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class _Sink:
    """A write-only, unseekable file for ``zipfile``: what was written waits in :meth:`take`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


async def _subtree(pool: asyncpg.Pool, ns_id: int, key: str) -> AsyncIterator[asyncpg.Record]:
    """The live entries below the folder ``key``, in path order, a page at a time."""
    after = key + "/" if key != entries.ROOT_KEY else "/"
    prefix = entries.like_prefix(key) if key != entries.ROOT_KEY else "/%"
    while True:
        async with db.connection(pool) as conn:
            rows = await conn.fetch(
                f"""SELECT {entries.ENTRY_COLUMNS} FROM {entries.ENTRY_FROM}
                     WHERE e.ns_id = $1 AND NOT e.deleted AND e.path_key LIKE $2 AND e.path_key > $3
                     ORDER BY e.path_key LIMIT $4""",
                ns_id,
                prefix,
                after,
                ROWS_PAGE,
            )
        for row in rows:
            yield row
        if len(rows) < ROWS_PAGE:
            return
        after = rows[-1]["path_key"]


def _zip_time(ts: float | None) -> tuple[int, int, int, int, int, int]:
    if ts is None:
        return _ZIP_EPOCH
    t = datetime.fromtimestamp(ts, UTC)
    return max((t.year, t.month, t.day, t.hour, t.minute, t.second), _ZIP_EPOCH)


@dataclass(frozen=True, slots=True)
class Mounted:
    """A share mounted below the zipped folder: its namespace, read with ``reader``, goes in the
    zip at ``rel`` (its mount path below the folder, ``/Team``)."""

    reader: BlockReader
    ns_id: int
    rel: str


async def zip_folder(request: web.Request) -> web.StreamResponse:
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        mounts = await mounts_of(conn, ctx.caller.user_id)
        place = await resolve(conn, ctx, url_tree_path(request))
        path = place.path
        if path != paths.ROOT:
            folder = await entries.get_live(conn, place.ns_id, path)
            if folder["kind"] != "folder":
                raise NotAFolder(f"{place.outer(folder['path'])} is a file, not a folder")
            path = folder["path"]
    top = paths.basename(place.outer(path))
    depth = 0 if path == paths.ROOT else path.count("/")  # the mount paths' components below ``path``
    below = [] if place.prefix else [m for m in mounts if m.path != path and paths.is_within(m.path, path)]
    shares = [
        Mounted(reader_for(request, ctx, m.ns_id), m.ns_id, "/" + "/".join(m.path.split("/")[depth + 1 :]))
        for m in sorted(below, key=lambda m: paths.path_key(m.path))
    ]
    return await stream_zip(request, reader_for(request, ctx, place.ns_id), place.ns_id, path, top, shares)


async def stream_zip(
    request: web.Request, reader: BlockReader, ns_id: int, path: str, top: str = "", shares: Sequence[Mounted] = ()
) -> web.StreamResponse:
    """The folder ``path`` of namespace ``ns_id`` (its display path, found already) as a zip,
    its entries in a folder ``top`` (default: the folder's name), then the ``shares`` mounted
    below it."""
    pool = request.app[POOL]
    top = top or paths.basename(path) or "Tessera"
    resp = web.StreamResponse(headers={
        "Content-Type": "application/zip", "Content-Disposition": disposition("attachment", top + ".zip"),
        "Cache-Control": "private, no-store",
    })  # fmt: skip
    await resp.prepare(request)
    sink = _Sink()
    cut = len(path) if path != paths.ROOT else 0
    try:
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:  # type: ignore[arg-type]
            async for row in _subtree(pool, ns_id, paths.path_key(path)):
                name = top + row["path"][cut:]
                await _add(request, resp, zf, sink, reader, row, name)
            for share in shares:
                await _add(request, resp, zf, sink, share.reader, {"kind": "folder"}, top + share.rel)
                async for row in _subtree(pool, share.ns_id, entries.ROOT_KEY):
                    await _add(request, resp, zf, sink, share.reader, row, top + share.rel + row["path"])
        await resp.write(sink.take())  # the central directory
    except (TesseraError, ConnectionResetError):
        resp.force_close()  # a zip cut short is all that can be said once bytes went out
        if request.transport is not None:
            request.transport.close()
        return resp
    await resp.write_eof()
    return resp


async def _add(request, resp, zf: zipfile.ZipFile, sink: _Sink, reader: BlockReader, row, name: str) -> None:
    """One entry: a folder as ``name/``, a file's blocks through ``zipfile`` to the client."""
    if row["kind"] == "folder":
        zf.writestr(zipfile.ZipInfo(name + "/", _ZIP_EPOCH), b"")
        await resp.write(sink.take())
        return
    info = zipfile.ZipInfo(name, _zip_time(row["client_modified"] and row["client_modified"].timestamp()))
    info.file_size = row["size"]
    info.compress_type = zipfile.ZIP_STORED
    with zf.open(info, "w") as out:
        if row["size"]:
            async for piece in reader.pieces(request.app[POOL], row["rev"], 0, row["size"] - 1):
                out.write(piece)
                await resp.write(sink.take())
    await resp.write(sink.take())
