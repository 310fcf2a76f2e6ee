"""Who may read or write which block: bearer tokens and signed grants.

Every block request carries the device's bearer token and a grant the
metadata server signed for exactly this operation on exactly this block for
exactly this user. The token is looked up in the database on every request
(no cache), so revoking a token or disabling its user takes effect at once, and
a token past its idle expiry is refused here too; the grant is checked without
the database.
"""

from __future__ import annotations

import time

from aiohttp import web

from metaserver.core import db
from metaserver.core.auth import Caller, bearer_token, lookup_token
from metaserver.core.requestlog import note_user
from metaserver.core.websession import SESSION_COOKIE
from protocol import grants
from protocol.errors import Forbidden
from protocol.hashing import BLOCK_SIZE, BlockHash

from .cors import allowed_origin
from .keys import POOL, SETTINGS

GRANT_HEADER = "X-Tessera-Grant"
GRANT_QUERY = "grant"


def request_token(request: web.Request) -> str:
    """The request's device token: its bearer token, or the web app's session cookie when the
    request comes from the web app's origin (:mod:`blockserver.cors`) without a bearer token."""
    header = request.headers.get("Authorization")
    if header is None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and allowed_origin(request):
            return cookie
    return bearer_token(header)


async def authenticate(request: web.Request) -> Caller:
    """The caller behind the request's token (:func:`request_token`); Unauthorized if none,
    unknown or revoked."""
    token = request_token(request)
    async with db.connection(request.app[POOL]) as conn:
        caller = await lookup_token(conn, token, request.app[SETTINGS].token_idle_expiry)
    note_user(caller.user_id)  # for the request's log line
    return caller


def block_id_of(request: web.Request) -> str:
    """The block id in the URL, canonical (32 lowercase hex digits); BadRequest if it is none."""
    return grants.canonical_block_id(request.match_info["block_id"])


def check_grant(request: web.Request, caller: Caller, op: str, block_id: str) -> grants.Grant:
    """The request's grant, if it is genuine, unexpired and for ``op`` on ``block_id`` by ``caller``.

    Raises Forbidden (missing, forged, malformed or mismatched grant) or GrantExpired.
    """
    token = request.headers.get(GRANT_HEADER) or request.query.get(GRANT_QUERY)
    if not token:
        raise Forbidden(f"a block grant is required ({GRANT_HEADER} header or ?{GRANT_QUERY}=)")
    return verify_grant(request.app[SETTINGS].grant_secret, token, caller, op, block_id)


def verify_grant(secret: bytes, token: str, caller: Caller, op: str, block_id: str) -> grants.Grant:
    """Check a grant token against the operation, the block and the caller (see check_grant)."""
    grant = grants.verify(token, secret, now=time.time())
    if grant.op != op:
        raise Forbidden(f"the grant allows {grant.op!r}, not {op!r}")
    if grant.block_id != block_id:
        raise Forbidden("the grant is for another block")
    if grant.user_id != caller.user_id:
        raise Forbidden("the grant was issued to another user")
    return grant


def expected_hash(grant: grants.Grant) -> BlockHash:
    """What a put grant promises the block's bytes are."""
    if not 0 < grant.size <= BLOCK_SIZE or len(grant.md5) != 32 or len(grant.sha256) != 64:
        raise Forbidden("the put grant does not describe a valid block")
    return BlockHash(grant.size, grant.md5, grant.sha256)
