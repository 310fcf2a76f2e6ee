"""Who may read or write which block: bearer tokens and signed grants.

Every block request carries the device's bearer token and a grant the
metadata server signed for exactly this operation on exactly this block for
exactly this user in exactly one namespace. The token is looked up in the database on every request
(no cache), so revoking a token or disabling its user takes effect at once, and
a token past its idle expiry is refused here too; the grant's signature is checked without
the database, then the user's role in the grant's namespace with it (:class:`Roles`): a member
removed from a share, or made a viewer, cannot use the put grants they still hold.

The one exception is a share link's visitor (:func:`authorize_get`): a ``GET`` with a link
grant and no token, which the metadata server makes for the link's pages. The block server
then checks in the database that the link still works (not revoked, not expired), that it is
the link of the grant's namespace, and that the block is in that namespace, on every request,
so a revocation cuts a download short.
"""

from __future__ import annotations

import time

from aiohttp import web

from metaserver.core import db, members
from metaserver.core.auth import Caller, bearer_token, lookup_token
from metaserver.core.requestlog import note_user
from metaserver.core.websession import SESSION_COOKIE
from protocol import grants
from protocol.errors import Forbidden, TesseraError
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


#: what each operation needs in the grant's namespace
_NEEDS = {grants.PUT: members.WRITE, grants.GET: members.READ}


class Roles:
    """The caller's role in the namespaces of the grants of one request, asked once per namespace."""

    def __init__(self, request: web.Request, caller: Caller) -> None:
        self._pool = request.app[POOL]
        self._user_id = caller.user_id
        self._known: dict[int, str | None] = {}

    async def check(self, grant: grants.Grant) -> None:
        """Forbidden (NotAMember, ReadOnly) unless the caller may do the grant's operation in its
        namespace now."""
        if grant.ns_id not in self._known:
            async with db.connection(self._pool) as conn:
                self._known[grant.ns_id] = await members.role_of(conn, grant.ns_id, self._user_id)
        members.check(self._known[grant.ns_id], _NEEDS[grant.op])


async def authorize_get(request: web.Request) -> str:
    """The block id of a read, if it may be made: by a share link's grant (no token), or by a
    user's token and get grant in a namespace where they may read now."""
    token = request.headers.get(GRANT_HEADER) or request.query.get(GRANT_QUERY)
    if token and "Authorization" not in request.headers:
        try:
            grant = grants.verify(token, request.app[SETTINGS].grant_secret, now=time.time())
        except TesseraError:
            grant = None  # answered as a request without a token (below)
        if grant is not None and grant.op == grants.LINK_GET:
            block_id = block_id_of(request)
            await _check_link_grant(request, grant, block_id)
            return block_id
    caller = await authenticate(request)
    block_id = block_id_of(request)
    await Roles(request, caller).check(check_grant(request, caller, grants.GET, block_id))
    return block_id


async def _check_link_grant(request: web.Request, grant: grants.Grant, block_id: str) -> None:
    if grant.block_id != block_id:
        raise Forbidden("the grant is for another block")
    async with db.connection(request.app[POOL]) as conn:
        ok = await conn.fetchval(_LINK_READS_BLOCK, grant.user_id, block_id, grant.ns_id)
    if not ok:
        raise Forbidden("the share link no longer works, or does not reach this block")


#: a link grant's check: the link still works, is of the grant's namespace, and the block is in
#: a version of that namespace
_LINK_READS_BLOCK = """
SELECT EXISTS (
  SELECT 1 FROM links l
   WHERE l.id = $1 AND l.ns_id = $3 AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > now())
     AND EXISTS (SELECT 1 FROM version_blocks vb JOIN versions v ON v.id = vb.version_id
                  WHERE vb.block_id = $2::uuid AND v.ns_id = l.ns_id))"""


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
