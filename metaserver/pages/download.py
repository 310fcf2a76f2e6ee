"""``/download/{path}`` (a file, with ``Range``) and ``/raw/{path}`` (a safe preview).

Both stream a version's blocks from the block servers (:mod:`.blocks`), verified, never
holding the file. A download is always an attachment of type
``application/octet-stream``; ``/raw/`` answers inline only for the preview types of
:mod:`.kinds` (raster images, PDF), with ``nosniff`` and a CSP that lets nothing run,
and anything else as an attachment, so no user file is ever active content in the
app's origin.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from protocol.errors import TesseraError

from ..core.callers import Context
from ..core.http import query_int
from ..keys import POOL
from ..web.auth import authenticate
from . import kinds
from .blocks import BlockReader, Version, find_version, reader_for
from .paths import url_tree_path

OCTET_STREAM = "application/octet-stream"
#: user files shown inline: nothing may run, nothing may load, only this app may frame them
RAW_CSP = "default-src 'none'; img-src 'self'; object-src 'self'; sandbox; frame-ancestors 'self'"
PDF_CSP = "default-src 'none'; object-src 'self'; frame-ancestors 'self'"


def disposition(kind: str, name: str) -> str:
    """``Content-Disposition`` with an ASCII fallback name and the real one (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%;' else "_" for c in name) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _range(request: web.Request, size: int, etag: str) -> tuple[int, int] | None:
    """The single byte range asked for (inclusive), or None for the whole file.

    Several ranges, or an ``If-Range`` that is not this version, get the whole file
    (RFC 9110 allows it); a range past the end is 416.
    """
    header = request.headers.get("Range")
    if not header or size == 0:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range != etag:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    try:
        if not dash:
            raise ValueError(spec)
        if first_s == "":  # the last N bytes
            first, last = max(size - int(last_s), 0), size - 1
        else:
            first, last = int(first_s), min(int(last_s), size - 1) if last_s else size - 1
    except ValueError:
        return None
    if first < 0 or first > last or first >= size:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return first, last


async def stream_version(
    request: web.Request, reader: BlockReader, version: Version, headers: dict[str, str]
) -> web.StreamResponse:
    """``version``'s bytes as the answer (``Range`` honoured), read block by block through ``reader``."""
    etag = f'"{version.content_hash}"'
    wanted = _range(request, version.size, etag)
    first, last = wanted if wanted else (0, version.size - 1)
    resp = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    resp.headers.update({"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-cache"})
    if wanted:
        resp.headers["Content-Range"] = f"bytes {first}-{last}/{version.size}"
    resp.content_length = last - first + 1
    resp.last_modified = version.modified
    if request.method == "HEAD" or version.size == 0:
        await resp.prepare(request)
        await resp.write_eof()
        return resp
    pieces = reader.pieces(request.app[POOL], version.rev, first, last)
    try:
        piece = await anext(pieces)  # a block that cannot be read fails here, before the status line
        await resp.prepare(request)
        await resp.write(piece)
        async for piece in pieces:
            await resp.write(piece)
    except TesseraError:
        if not resp.prepared:
            raise
        # the status line is out: a short body and a closed connection is the honest answer
        resp.force_close()
        if request.transport is not None:
            request.transport.close()
        return resp
    finally:
        await pieces.aclose()
    await resp.write_eof()
    return resp


async def _version(request: web.Request) -> tuple[Context, Version]:
    ctx = await authenticate(request)
    rev = query_int(request, "rev", 0, 0, 1 << 62) or None
    return ctx, await find_version(request.app[POOL], ctx.ns_id, url_tree_path(request), rev)


def attachment_headers(name: str) -> dict[str, str]:
    return {"Content-Type": OCTET_STREAM, "Content-Disposition": disposition("attachment", name)}


def preview_headers(name: str) -> dict[str, str]:
    """Inline for raster images and PDF (nothing may run), an attachment for anything else."""
    kind = kinds.of(name)
    if kind.inline_type is None:
        return attachment_headers(name)
    return {
        "Content-Type": kind.inline_type,
        "Content-Disposition": disposition("inline", name),
        "Content-Security-Policy": PDF_CSP if kind.preview == "pdf" else RAW_CSP,
        "X-Frame-Options": "SAMEORIGIN",
    }


async def download(request: web.Request) -> web.StreamResponse:
    """A file version as an attachment (``?rev=`` for an old one), ``Range`` honoured."""
    ctx, version = await _version(request)
    name = version.path.rsplit("/", 1)[-1]
    return await stream_version(request, reader_for(request, ctx), version, attachment_headers(name))


async def raw(request: web.Request) -> web.StreamResponse:
    """A file for the preview: inline for raster images and PDF, an attachment for anything else."""
    ctx, version = await _version(request)
    name = version.path.rsplit("/", 1)[-1]
    return await stream_version(request, reader_for(request, ctx), version, preview_headers(name))
