"""Signed block grants.

The metadata server issues a grant for each block a caller may write (``put``)
or read (``get``); the block server checks it without a database round trip.
A grant names the operation, the block id, the user, the block's size, MD5 and
SHA-256 (for ``put``) and an expiry, and is signed with HMAC-SHA256 under a
secret the two servers share. A ``link`` grant lets an anonymous visitor of a share link read
one block (through the metadata server): its ``user_id`` field holds the link's id, and the
block server checks that the link still works and that the block is in its namespace.

Wire form: ``base64url(payload) "." base64url(mac)``, payload a msgpack list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from . import codec
from .errors import BadRequest, Forbidden, GrantExpired

PUT = "put"
GET = "get"
#: a read for a share link's visitor (the "user" of the grant is the link's id)
LINK_GET = "link"
_VERSION = 1
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class Grant:
    op: str  # PUT, GET or LINK_GET
    block_id: str  # canonical uuid hex (32 lowercase hex digits)
    user_id: int  # the link's id for LINK_GET
    size: int
    md5: str  # hex; "" when not needed (GET)
    sha256: str  # hex; "" when not needed (GET)
    expires_at: int  # unix seconds


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def canonical_block_id(block_id: str) -> str:
    """A block id as 32 lowercase hex digits; BadRequest if it is not one.

    Hex digits in any case, with or without the uuid dashes. Not ``uuid.UUID(hex=...)``:
    through ``int(s, 16)`` it also takes "0x", "+", "_", whitespace and non-ASCII digits.
    """
    digits = block_id.replace("-", "") if isinstance(block_id, str) else ""
    if len(digits) != 32 or not set(digits) <= _HEX_DIGITS:
        raise BadRequest(f"not a block id: {str(block_id)[:64]!r}")
    return digits.lower()


def sign(grant: Grant, secret: bytes) -> str:
    payload = codec.pack(
        [
            _VERSION,
            grant.op,
            bytes.fromhex(grant.block_id),
            grant.user_id,
            grant.size,
            bytes.fromhex(grant.md5),
            bytes.fromhex(grant.sha256),
            grant.expires_at,
        ]
    )
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64e(payload)}.{_b64e(mac)}"


def verify(token: str, secret: bytes, *, now: float) -> Grant:
    """Check the signature and expiry of a grant token and return its claims.

    Raises Forbidden for anything malformed or forged, GrantExpired when expired.
    The caller still checks the op, the block id and the user against the request.
    """
    try:
        payload_s, mac_s = token.split(".", 1)
        payload, mac = _b64d(payload_s), _b64d(mac_s)
    except (ValueError, AttributeError):
        raise Forbidden("malformed block grant") from None
    want = hmac.new(secret, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, want):
        raise Forbidden("block grant signature is not valid")
    try:
        version, op, bid, user_id, size, md5, sha, exp = codec.unpack(payload)
        if version != _VERSION:
            raise ValueError(version)
        grant = Grant(op, bytes(bid).hex(), int(user_id), int(size), bytes(md5).hex(), bytes(sha).hex(), int(exp))
    except Exception:
        raise Forbidden("malformed block grant") from None
    if grant.expires_at < now:
        raise GrantExpired()
    return grant
