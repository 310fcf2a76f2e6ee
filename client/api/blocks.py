"""The block servers' batch requests: many small blocks in one request, down and up.

``POST /v1/blocks/get_batch`` (:func:`get_block_batch`): the answer is a sequence of frames (:mod:`protocol.blockbatch`), one per block
asked for, in order: ``{"block_id", "size"}`` and the bytes, or
``{"block_id", "error"}``. Every frame is checked against what was asked
(id, order, the size the grant names) and the body is bounded by the sum of
those sizes; the caller verifies each block's hashes.

``POST /v1/blocks/batch`` (:func:`put_block_batch`): the body is the caller's, framed the same
way (a header with the block id and its put grant, then the bytes); the answer lists one result
per block, in order: stored, or the error that refused it.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from protocol import blockbatch, codec
from protocol.errors import ProtocolError, TesseraError, error_from_wire
from protocol.messages.wire import batch_results

from .requestid import with_request_id
from .retry import call_with_retry
from .transport import (
    MAX_ANSWER_BYTES,
    NETWORK_ERRORS,
    Transport,
    error_from_response,
    network_error,
    read_bounded,
)


@dataclass(frozen=True, slots=True)
class WantedBlock:
    block_id: str
    grant: str
    size: int


async def get_block_batch(
    transport: Transport, servers: Sequence[str], token: str, wanted: Sequence[WantedBlock], spread: int = 0
) -> list[bytes | TesseraError]:
    """The bytes of each block (or the error that the server answered for it), in order.

    Retried on transient failures (next block server each time): reading is idempotent.
    """
    if not servers:
        raise ProtocolError("the server named no block server")
    if not 1 <= len(wanted) <= blockbatch.MAX_FRAMES:
        raise ValueError(f"a batch GET asks for 1 to {blockbatch.MAX_FRAMES} blocks")
    body = codec.pack({"blocks": [{"block_id": w.block_id, "grant": w.grant} for w in wanted]})
    headers = with_request_id({"Authorization": f"Bearer {token}", "Content-Type": codec.MSGPACK})

    async def attempt(n: int) -> list[bytes | TesseraError]:
        url = f"{servers[(spread + n - 1) % len(servers)].rstrip('/')}/v1/blocks/get_batch"
        try:
            async with transport.session.post(url, data=body, headers=headers) as resp:
                if resp.status >= 300:
                    raise await error_from_response(resp)
                if codec.media_type(resp.headers.get("Content-Type")) != blockbatch.CONTENT_TYPE:
                    raise ProtocolError(f"POST {url}: the answer is not a block batch")
                return [await _read_frame(resp.content, w) for w in wanted]
        except NETWORK_ERRORS as exc:
            raise network_error(exc, "POST", url) from exc

    return await call_with_retry(transport.retry, attempt, idempotent=True, what="POST block get batch")


async def _read_frame(content: aiohttp.StreamReader, want: WantedBlock) -> bytes | TesseraError:
    try:
        (n,) = blockbatch.LENGTH.unpack(await content.readexactly(blockbatch.LENGTH.size))
        if not 0 < n <= blockbatch.MAX_HEADER:
            raise ProtocolError("a block batch frame header has a bad length")
        header: Any = codec.unpack(await content.readexactly(n))
        if not isinstance(header, dict) or header.get("block_id") != want.block_id:
            raise ProtocolError("the block batch answer is not in the order of the blocks asked for")
        if "error" in header:
            return error_from_wire(0, header)
        if header.get("size") != want.size:
            raise ProtocolError(f"block {want.block_id}: the answer names another size than its grant")
        return await content.readexactly(want.size)
    except codec.CodecError as e:
        raise ProtocolError(f"the block batch answer is malformed: {e.message}") from None
    except asyncio.IncompleteReadError:
        raise ProtocolError("the block batch answer ended inside a frame") from None



async def put_block_batch(
    transport: Transport, servers: Sequence[str], token: str, body: bytes, count: int
) -> list[dict[str, Any]]:
    """Send ``count`` framed blocks; one result object per block, in order.

    Retried (storing a block twice is harmless), the next block server each time.
    """
    if not servers:
        raise ProtocolError("the server named no block server")
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": blockbatch.CONTENT_TYPE,
        "Content-Length": str(len(body)),
        "Accept": codec.MSGPACK,
    }
    headers = with_request_id(headers)

    async def attempt(n: int) -> Any:
        url = f"{servers[(n - 1) % len(servers)].rstrip('/')}/v1/blocks/batch"
        try:
            # a fresh stream per attempt: aiohttp sends it in pieces, draining the socket between
            async with transport.session.post(url, data=io.BytesIO(body), headers=headers) as resp:
                if resp.status >= 300:
                    raise await error_from_response(resp)
                raw = await read_bounded(resp, MAX_ANSWER_BYTES)
                ctype = codec.media_type(resp.headers.get("Content-Type"))
        except NETWORK_ERRORS as exc:
            raise network_error(exc, "POST", url) from exc
        if ctype not in codec.CONTENT_TYPES:
            raise ProtocolError(f"POST {url}: unexpected content type {ctype or 'none'!r}")
        return codec.decode(raw, ctype)

    answer = await call_with_retry(transport.retry, attempt, idempotent=True, what="POST block batch")
    return batch_results(answer, "results", count)
