"""Taking in one block body: bounded, hashed while it streams, verified at the end.

Both store backends feed an incoming body through :func:`receive_verified`,
which hands the bytes to a backend-specific sink (a temp file, a list of
pieces) and raises the protocol's errors for a body that is too long, too
short or has the wrong MD5 or SHA-256. It never holds more than two pieces
(:data:`PIECE_SIZE` plus one chunk, each) and never accepts more than
``expected.size`` bytes.

The chunks of a piece go to a worker thread together (one hop per piece),
where each is hashed and handed to the sink as it is: no piece is joined into
a new buffer, since a fresh megabyte per piece (allocated, page-faulted in,
copied) cost as much CPU as writing it to the file. While a piece is hashed
and written, the next one is read from the body (at most two pieces held, one
thread call at a time, in order): the socket is drained while the thread
works instead of the two taking turns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from protocol.errors import BlockTooLarge, HashMismatch, SizeMismatch
from protocol.hashing import BlockHash, BlockHasher

#: bytes gathered before one hop to a worker thread (hashing and writing happen there): 4 hops
#: per 4 MiB block (256 KiB pieces made 16; the hops cost ~0.3 s of server CPU per GiB)
PIECE_SIZE = 1024 * 1024


def _absorb(hasher: BlockHasher, sink: Callable[[bytes], object], chunks: list[bytes]) -> None:
    # runs in a worker thread: hashlib releases the GIL on large buffers
    for chunk in chunks:
        hasher.update(chunk)
        sink(chunk)


async def receive_verified(
    body: AsyncIterator[bytes], expected: BlockHash, sink: Callable[[bytes], object]
) -> None:
    """Consume ``body`` into ``sink`` and verify it against ``expected``.

    ``sink`` is a blocking callable (``file.write``, ``list.append``) called with
    the body's chunks as they arrived; it runs in a worker thread, one call at a
    time, in order. When this returns,
    the sink has received exactly the expected bytes. When it raises, the sink
    may hold a prefix of the body: the caller discards it.
    """
    hasher = BlockHasher()
    loop = asyncio.get_running_loop()
    # the piece a worker thread is hashing and sinking while the next one is read
    working: asyncio.Future[None] | None = None
    pending: list[bytes] = []
    pending_len = 0
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > expected.size:
                raise BlockTooLarge(
                    f"the body is longer than the {expected.size} bytes granted for the block",
                    size=expected.size,
                )
            pending.append(chunk)
            pending_len += len(chunk)
            if pending_len >= PIECE_SIZE:
                if working is not None:
                    await asyncio.shield(working)
                working = loop.run_in_executor(None, _absorb, hasher, sink, pending)
                pending = []
                pending_len = 0
        if working is not None:
            await asyncio.shield(working)
            working = None
        if pending:
            working = loop.run_in_executor(None, _absorb, hasher, sink, pending)
            await asyncio.shield(working)
            working = None
    finally:
        if working is not None and not working.done():
            # failed or cancelled with a thread still writing: the caller discards the sink's
            # file next, so wait for the thread (it cannot be interrupted) before letting go
            with contextlib.suppress(BaseException):
                await working
    if received < expected.size:
        raise SizeMismatch(
            f"the body ended after {received} of the {expected.size} bytes granted for the block",
            size=expected.size,
            received=received,
        )
    check_hashes(hasher.result(), expected)


def check_hashes(got: BlockHash, expected: BlockHash) -> None:
    """HashMismatch naming the digests that differ, if any."""
    wrong = [name for name in ("md5", "sha256") if getattr(got, name) != getattr(expected, name)]
    if wrong:
        names = " and ".join(n.upper().replace("SHA256", "SHA-256") for n in wrong)
        raise HashMismatch(f"the block's {names} does not match its grant", mismatch=wrong)
