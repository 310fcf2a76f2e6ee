"""Block size and hashing.

Files are split into ``BLOCK_SIZE`` blocks (the last one shorter; an empty file
has no blocks). Each block is identified on the wire by its size, MD5 and
SHA-256. A file's content hash is the SHA-256 over the concatenated raw SHA-256
digests of its blocks, as Dropbox's ``content_hash``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import BadRequest

BLOCK_SIZE = 4 * 1024 * 1024
MD5_HEX_LEN = 32
SHA256_HEX_LEN = 64
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class BlockHash:
    size: int
    md5: str  # lowercase hex
    sha256: str  # lowercase hex

    def to_wire(self) -> dict:
        return {"size": self.size, "md5": self.md5, "sha256": self.sha256}

    @classmethod
    def from_wire(cls, obj: object) -> BlockHash:
        if not isinstance(obj, dict):
            raise BadRequest("block must be an object with size, md5 and sha256")
        size, md5, sha = obj.get("size"), obj.get("md5"), obj.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= BLOCK_SIZE:
            raise BadRequest(f"block size must be an integer in 1..{BLOCK_SIZE}")
        return cls(size, check_hex(md5, MD5_HEX_LEN, "md5"), check_hex(sha, SHA256_HEX_LEN, "sha256"))


def check_hex(value: object, length: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != length or not set(value.lower()) <= _HEX:
        raise BadRequest(f"{what} must be {length} hex digits")
    return value.lower()


def hash_block(data: bytes | memoryview) -> BlockHash:
    """Hash one block (call from a thread for large buffers: hashlib releases the GIL)."""
    return BlockHash(len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())


def content_hash(block_sha256s: Iterable[str]) -> str:
    """The file content hash from its blocks' SHA-256 hex digests, in order."""
    h = hashlib.sha256()
    for s in block_sha256s:
        h.update(bytes.fromhex(s))
    return h.hexdigest()


def block_count(size: int) -> int:
    return (size + BLOCK_SIZE - 1) // BLOCK_SIZE


def expected_block_sizes(size: int) -> list[int]:
    n = block_count(size)
    if n == 0:
        return []
    return [BLOCK_SIZE] * (n - 1) + [size - BLOCK_SIZE * (n - 1)]


class BlockHasher:
    """Incremental MD5 + SHA-256 + byte count over one block streamed in pieces."""

    __slots__ = ("_md5", "_sha", "size")

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._md5.update(data)
        self._sha.update(data)
        self.size += len(data)

    def result(self) -> BlockHash:
        return BlockHash(self.size, self._md5.hexdigest(), self._sha.hexdigest())
