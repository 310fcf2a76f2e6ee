"""``/v1/links``: make, list and revoke share links (docs/api.md, "Share links").

A path is the caller's, resolved through their mounts (metaserver/sharing/places.py): a link
into a shared folder is a link of the share's namespace, which its owner and editors may make,
list and revoke (a viewer may not: ``read_only``); a link into the caller's home, the caller's
alone. A link of a namespace the caller cannot manage is answered as not found, like one that
does not exist. Links are listed with the caller's paths.
"""

from __future__ import annotations

import logging

import asyncpg
from aiohttp import web

from protocol import paths
from protocol.errors import BadRequest, TooManyLinks
from protocol.messages.links import LinkRevoked, Links, NewLink

from ..core import db, members, passwords
from ..core.bodies import KIB, body_limit, read_object
from ..core.callers import Context
from ..core.http import MAX_BIGINT, respond
from ..core.websession import public_url
from ..keys import PASSWORDS, POOL, SETTINGS
from ..links import follow, store
from ..sharing.places import Place, locate, mounts_of, resolve
from ..tree import entries
from .auth import authenticate

log = logging.getLogger(__name__)
#: the shortest life a link may be given
MIN_EXPIRY = 60


def _expires_in(body: dict) -> int | None:
    value = body.get("expires_in")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_EXPIRY <= value <= store.MAX_EXPIRY:
        raise BadRequest(f"expires_in must be a number of seconds from {MIN_EXPIRY} to {store.MAX_EXPIRY}, or null")
    return value


def _options(body: dict) -> tuple[str, int | None, str | None, bool]:
    path = paths.normalize(body.get("path"))
    password = body.get("password")
    if password is not None:
        if not isinstance(password, str):
            raise BadRequest("password must be a string or null")
        passwords.check_new_password(password)
    view_only = body.get("view_only", False)
    if not isinstance(view_only, bool):
        raise BadRequest("view_only must be true or false")
    return path, _expires_in(body), password, view_only


def link_url(request: web.Request, token: str) -> str:
    return str(public_url(request.app[SETTINGS]) / "s" / token)


@body_limit(8 * KIB)  # a path and a password of at most 1024 characters, JSON-escaped
async def create_link(request: web.Request) -> web.Response:
    """A new link to a file or folder of the caller's (``{path, expires_in?, password?, view_only?}``)."""
    ctx = await authenticate(request)
    path, expires_in, password, view_only = _options(await read_object(request))
    password_hash = None
    if password is not None:
        async with request.app[PASSWORDS].turn(request.remote or ""):
            password_hash = await passwords.hash_password(password)
    async with db.transaction(request.app[POOL]) as conn:
        place = await resolve(conn, ctx, path, members.WRITE)  # in a share: its owner or an editor
        await follow.hold_still(conn, place.ns_id)  # no move there between reading the target and the link
        inner = place.path
        target = await entries.get_live(conn, place.ns_id, inner) if inner != paths.ROOT else None
        if await store.count(conn, place.ns_id) >= store.MAX_LINKS:
            where = "this shared folder" if place.prefix else "this account"
            raise TooManyLinks(f"{where} has {store.MAX_LINKS} links; revoke some first")
        link, token = await store.create(
            conn, place.ns_id, target["path"] if target else inner, ctx.caller.user_id,
            expires_in=expires_in, password_hash=password_hash, view_only=view_only,
        )  # fmt: skip
    log.info("link %d made by user %d to %s in namespace %d", link.id, ctx.caller.user_id, link.path, link.ns_id)
    kind = target["kind"] if target else "folder"
    return respond(request, NewLink(place.out(link.message(kind)), link_url(request, token)).to_wire())


async def _managed(conn: asyncpg.Connection, ctx: Context) -> dict[int, Place]:
    """The namespaces whose links the caller manages (their home; the shares they own or edit),
    each with its root as the caller sees it."""
    mounts = await mounts_of(conn, ctx.caller.user_id)
    found = {ctx.ns_id: locate(ctx.ns_id, (), paths.ROOT)}
    found.update((m.ns_id, locate(ctx.ns_id, mounts, m.path)) for m in mounts if members.allows(m.role, members.WRITE))
    return found


async def list_links(request: web.Request) -> web.Response:
    """The caller's links, oldest first, with their state (active, revoked, expired)."""
    ctx = await authenticate(request)
    async with db.connection(request.app[POOL]) as conn:
        places = await _managed(conn, ctx)
        found = await store.list_links(conn, list(places))
    return respond(request, Links([places[link.ns_id].out(link.message()) for link in found]).to_wire())


async def revoke_link(request: web.Request) -> web.Response:
    """Turn one of the caller's links off (``{"id"}``), at once for every visitor."""
    ctx = await authenticate(request)
    body = await read_object(request)
    link_id = body.get("id")
    if not isinstance(link_id, int) or isinstance(link_id, bool) or not 0 < link_id <= MAX_BIGINT:
        raise BadRequest("id must be a link id (a positive integer)")
    async with db.transaction(request.app[POOL]) as conn:
        places = await _managed(conn, ctx)
        link = await store.revoke(conn, list(places), link_id)
    log.info("link %d revoked by user %d", link.id, ctx.caller.user_id)
    return respond(request, LinkRevoked(places[link.ns_id].out(link.message())).to_wire())


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_post("/v1/links", create_link)
    r.add_get("/v1/links", list_links)
    r.add_post("/v1/links/revoke", revoke_link)
