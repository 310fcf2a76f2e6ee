"""The object store interface every block store backend implements.

A block store keeps immutable blocks under their block id (32 lowercase hex
digits, :func:`protocol.grants.canonical_block_id`); the key is never derived
from the content. The one rule every backend must keep: **a block becomes
visible only complete and verified**. :meth:`BlockStore.put` consumes the body,
checks its byte count, MD5 and SHA-256 against what the grant promised, and
publishes the block atomically only if all three match; on any failure
(mismatch, disconnect, cancellation) nothing is left behind that a reader,
:meth:`BlockStore.exists` or :meth:`BlockStore.list_ids` could see.

Backends: :mod:`blockserver.stores.local` (a directory on local disk) and
:mod:`blockserver.stores.s3` (any S3-compatible service).
"""

from __future__ import annotations

import abc
import errno
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

from protocol.errors import BadRequest, InsufficientStorage, NotFound, TesseraError
from protocol.hashing import BlockHash

log = logging.getLogger(__name__)

_HEX_DIGITS = frozenset("0123456789abcdef")
BLOCK_ID_LEN = 32

#: how much a store reads at a time when streaming a block out
READ_PIECE = 256 * 1024
#: objects kept beside the blocks (:meth:`BlockStore.write_aside`): names that are never block ids
MARKER_NAME = "tessera-deployment"
PROBE_PREFIX = "tessera-probe-"


def is_block_id(key: object) -> bool:
    """True if ``key`` is a block id in canonical form: 32 lowercase hex digits."""
    return isinstance(key, str) and len(key) == BLOCK_ID_LEN and _HEX_DIGITS.issuperset(key)


def check_block_id(key: object) -> str:
    """``key`` itself if it is a canonical block id; BadRequest otherwise.

    Strict on purpose: no dashes, braces, upper case or path characters ever
    reach a file name or an object key. Callers canonicalise ids from the wire
    first (``protocol.grants.canonical_block_id``).
    """
    if not is_block_id(key):
        raise BadRequest(f"not a canonical block id: {str(key)[:64]!r}")
    return key  # type: ignore[return-value]


#: what a write to a full disk (or past a disk quota) fails with
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def out_of_space(store: object, err: OSError) -> InsufficientStorage:
    """The error a block store raises when its storage is full (answered 507 ``insufficient_storage``);
    where is logged, not told to the client."""
    log.error("%r is out of space: %s", store, err.strerror or err)
    return InsufficientStorage("the server is out of storage space; tell its operator")


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One block as the store lists it (for the garbage collector)."""

    block_id: str
    #: when the object was last written, unix seconds
    modified: float


class BlockStream(AsyncIterator[bytes], abc.ABC):
    """The bytes of one stored block, read piece by piece.

    Holds an open file or connection: always close it, with ``async with`` or
    :meth:`aclose`, also when stopping early. Closing twice is harmless.
    """

    @abc.abstractmethod
    async def __anext__(self) -> bytes: ...

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the file or connection behind the stream."""

    def fileno(self) -> int | None:
        """A file descriptor of the whole block for ``os.sendfile`` (read at offsets, so it is
        left untouched by it), or None if the stream is no local file (then iterate)."""
        return None

    async def __aenter__(self) -> BlockStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def _one_piece(data: bytes) -> AsyncIterator[bytes]:
    yield data


class BlockStore(abc.ABC):
    """Where the bytes of blocks live.

    Use as ``async with store:`` or call :meth:`start` before and :meth:`close`
    after use. All methods are safe to call concurrently from one event loop,
    and none blocks it.
    """

    @abc.abstractmethod
    async def start(self) -> None:
        """Acquire long-lived resources (connection pools, directories); idempotent."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release what :meth:`start` acquired; idempotent."""

    async def __aenter__(self) -> BlockStore:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def put(self, block_id: str, body: AsyncIterator[bytes], expected: BlockHash) -> None:
        """Store the block ``block_id`` from ``body``, verified against ``expected``.

        Consumes ``body``. Raises ``BlockTooLarge`` as soon as more than
        ``expected.size`` bytes arrive, ``SizeMismatch`` if fewer arrive,
        ``HashMismatch`` if the MD5 or SHA-256 differ, and whatever ``body``
        raises. The block is visible afterwards only if this returns; an
        existing block of that id is replaced atomically.
        """

    @abc.abstractmethod
    async def open(self, block_id: str) -> tuple[int, BlockStream]:
        """The size of the block and a stream of its bytes; NotFound if absent."""

    @abc.abstractmethod
    async def size(self, block_id: str) -> int:
        """The size of the block in bytes; NotFound if absent."""

    @abc.abstractmethod
    async def exists(self, block_id: str) -> bool:
        """Whether the block is stored (complete and verified)."""

    @abc.abstractmethod
    async def delete(self, block_id: str) -> None:
        """Remove the block; removing an absent block is not an error."""

    @abc.abstractmethod
    def list_ids(self) -> AsyncIterator[str]:
        """Every stored block id, in no particular order (for the garbage collector)."""

    async def list_objects(self) -> AsyncIterator[StoredObject]:
        """Every stored block with the time it was written, in no particular order.

        The garbage collector deletes objects that have no block row and are
        older than its grace period. Backends override this; a store that
        cannot tell times raises NotImplementedError, and the collector then
        leaves its objects alone.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list objects with their times")
        yield  # pragma: no cover - makes this an async generator

    async def put_small(self, blocks: list[tuple[str, bytes, BlockHash]]) -> list[TesseraError | None]:
        """Store many small blocks whose bytes are in memory; per block None (stored) or its error.

        Each block is verified and published as :meth:`put` does (a block that
        fails is not visible). The caller bounds the total size. This default
        stores them one after another; backends override it to group the work
        (the local store flushes them together: :class:`protocol.fs.flush.FlushGroup`).
        """
        out: list[TesseraError | None] = []
        for block_id, data, expected in blocks:
            try:
                await self.put(block_id, _one_piece(data), expected)
            except TesseraError as e:
                out.append(e)
            else:
                out.append(None)
        return out

    async def read_small(self, block_ids: list[str]) -> list[bytes | None]:
        """The whole bytes of each block (None: not stored), for small blocks only.

        The caller bounds the total size. This default reads them one after
        another through :meth:`open`; backends that can read many at less cost
        (one worker-thread call for local files) override it.
        """
        out: list[bytes | None] = []
        for block_id in block_ids:
            try:
                _size, stream = await self.open(block_id)
            except NotFound:
                out.append(None)
                continue
            async with stream:
                out.append(b"".join([piece async for piece in stream]))
        return out

    # -- objects beside the blocks, never listed as blocks ------------------------------------------

    async def read_aside(self, name: str) -> bytes | None:
        """The object ``name`` kept beside the blocks (a name that is no block id), or None if absent."""
        raise NotImplementedError(f"{type(self).__name__} keeps no objects beside the blocks")

    async def write_aside(self, name: str, data: bytes) -> None:
        """Write the object ``name`` beside the blocks (never listed, swept or collected as a block)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no objects beside the blocks")

    async def delete_aside(self, name: str) -> None:
        """Remove the object ``name`` beside the blocks; an absent one is not an error."""
        raise NotImplementedError(f"{type(self).__name__} keeps no objects beside the blocks")

    async def read_marker(self) -> str | None:
        """The deployment marker of the store (:mod:`blockserver.binding`), or None if it has none."""
        data = await self.read_aside(MARKER_NAME)
        return None if data is None else data.decode("utf-8", "replace")

    async def write_marker(self, text: str) -> None:
        """Write the store's deployment marker (a small object beside the blocks, never listed as one)."""
        await self.write_aside(MARKER_NAME, text.encode("utf-8"))

    async def probe(self) -> None:
        """Write a small object, read it back, delete it (readiness checks); raises if any step fails.

        The probe object (``tessera-probe-<random>``) lives beside the blocks like the deployment
        marker: its name is no block id, so it is never listed as a block, never taken for an
        orphan by the garbage collector or for a deployment's blocks by the store binding, and
        never backed up. (A crash between its write and its delete leaves those 64 bytes behind.)"""
        import secrets

        name = PROBE_PREFIX + secrets.token_hex(8)
        data = secrets.token_bytes(64)
        await self.write_aside(name, data)
        try:
            if await self.read_aside(name) != data:
                raise RuntimeError("the block store gave back other bytes than were written")
        finally:
            await self.delete_aside(name)

    async def sweep_temp(self, max_age: float, *, dry_run: bool = False) -> int:
        """Remove what interrupted puts left behind that is older than ``max_age`` seconds;
        return how many (with ``dry_run``: how many would go). Stores that leave nothing
        behind (S3) have nothing to do."""
        return 0
