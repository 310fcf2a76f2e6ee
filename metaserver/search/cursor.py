"""The cursor of a search page: the position of the last match sent, opaque and signed.

A position is (tier, score, path key, namespace id, trash row id): the ranking's sort key
(the trash id 0 for a live entry; a path may be in the trash several times, and live too, so
the path alone is not unique), so the next page starts strictly after it and pages neither repeat nor skip a match, even when
entries change between them. The cursor is signed (HMAC-SHA256 under a key derived from the
servers' shared secret) over the position, the user and the search it belongs to: a cursor
that was altered, or is used by another user or with another query, path, type or
``deleted``, is 400 ``bad_cursor``.

Wire form: ``base64url(msgpack [version, tier, score, key, ns_id, trash_id]) "." base64url(mac[:16])``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from protocol import codec, paths
from protocol.errors import BadCursor
from protocol.messages.search import SearchRequest

_VERSION = 2
_MAC_BYTES = 16
_KEY_LABEL = b"tessera search cursor v1"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended, in the ranking's order (tier up, score down, ns_id up, key up, trash id up)."""

    tier: int
    score: float
    key: str
    ns_id: int
    #: the trash row's id; 0: a live entry (which comes before the trash rows of its path)
    trash_id: int = 0


#: before every match: the first page
START = Position(-1, 0.0, "", 0)


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _mac(secret: bytes, user_id: int, request: SearchRequest, payload: bytes) -> bytes:
    key = hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()
    bound = codec.pack(
        [user_id, request.folded, paths.path_key(request.path), request.type or "", request.deleted]
    )
    return hmac.new(key, bound + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode(secret: bytes, user_id: int, request: SearchRequest, at: Position) -> str:
    payload = codec.pack([_VERSION, at.tier, at.score, at.key, at.ns_id, at.trash_id])
    return f"{_b64e(payload)}.{_b64e(_mac(secret, user_id, request, payload))}"


def decode(secret: bytes, user_id: int, request: SearchRequest) -> Position:
    """The position in ``request.cursor`` (:data:`START` if it has none); BadCursor if it is not
    one this server made for this user and this search."""
    if not request.cursor:
        return START
    try:
        payload_s, mac_s = request.cursor.split(".")
        payload, mac = _b64d(payload_s), _b64d(mac_s)
    except (ValueError, binascii.Error):
        raise BadCursor() from None
    if not hmac.compare_digest(mac, _mac(secret, user_id, request, payload)):
        raise BadCursor()
    try:
        version, tier, score, key, ns_id, trash_id = codec.unpack(payload)
    except Exception:  # signed by us, so only an older format gets here
        raise BadCursor() from None
    if version != _VERSION:
        raise BadCursor()
    return Position(tier, score, key, ns_id, trash_id)
