"""Issuing signed block grants for the block server."""

from __future__ import annotations

import math
import time

from protocol import grants

from .settings import ServerSettings


def _expiry(ttl: int) -> int:
    """Whole seconds, rounded up: a grant never lives shorter than its TTL."""
    return math.ceil(time.time()) + ttl


def put_grant(settings: ServerSettings, user_id: int, block_id: str, size: int, md5: bytes, sha256: bytes) -> str:
    g = grants.Grant(
        grants.PUT, block_id, user_id, size, md5.hex(), sha256.hex(), _expiry(settings.put_grant_ttl)
    )
    return grants.sign(g, settings.grant_secret)


def get_grant(settings: ServerSettings, user_id: int, block_id: str, size: int) -> str:
    g = grants.Grant(grants.GET, block_id, user_id, size, "", "", _expiry(settings.get_grant_ttl))
    return grants.sign(g, settings.grant_secret)


def link_grant(settings: ServerSettings, link_id: int, block_id: str, size: int) -> str:
    """A grant to read one block for the visitors of share link ``link_id`` (no user token)."""
    g = grants.Grant(grants.LINK_GET, block_id, link_id, size, "", "", _expiry(settings.get_grant_ttl))
    return grants.sign(g, settings.grant_secret)
