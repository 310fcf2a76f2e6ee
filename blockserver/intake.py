"""Taking in one block body: bounded, hashed while it streams, verified at the end.

Both store backends feed an incoming body through :func:`receive_verified`,
which hands the bytes to a backend-specific sink (a temp file, a list of
pieces) and raises the protocol's errors for a body that is too long, too
short or has the wrong MD5 or SHA-256. It never holds more than one piece
(:data:`PIECE_SIZE` plus one chunk) and never accepts more than
``expected.size`` bytes.

The chunks of a piece go to a worker thread together (one hop per piece),
where each is hashed and handed to the sink as it is: no piece is joined into
a new buffer, since a fresh megabyte per piece (allocated, page-faulted in,
copied) cost as much CPU as writing it to the file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from protocol.errors import BlockTooLarge, HashMismatch, SizeMismatch
from protocol.hashing import BlockHash, BlockHasher

from .threads import run_to_completion

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
    pending: list[bytes] = []
    pending_len = 0
    received = 0
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
            await run_to_completion(_absorb, hasher, sink, pending)
            pending = []
            pending_len = 0
    if pending:
        await run_to_completion(_absorb, hasher, sink, pending)
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
