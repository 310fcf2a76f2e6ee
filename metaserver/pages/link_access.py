"""Who may open a share link, each time: rate limits, the link's state, its password.

- Every request for a link page draws from a bucket per client address
  (``link_rate_limit`` per second, ``link_burst`` at once): 429 with ``Retry-After`` when empty.
- The link is looked up by its token on every request and must still work (revoked or expired:
  410), so turning a link off stops a visitor between two pages of a folder.
- A password-protected link asks for its password first. A wrong password draws from a bucket
  of the link and one of the client address (``link_password_*``); a right one gives both
  back and sets a cookie scoped to the link's path (``/s/<token>``): an HMAC, under the grant
  secret, of the link's id, the cookie's expiry and the link's password hash, so it opens only
  that link, only until it expires, and no longer once the link's password changes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass

from aiohttp import web

from protocol.errors import LinkPasswordRequired, RateLimited

from ..core import db, passwords
from ..core.ratelimit import RateLimiter
from ..core.websession import is_https
from ..keys import PASSWORDS, POOL, SETTINGS
from ..links import store
from ..links.store import Link

log = logging.getLogger(__name__)

UNLOCK_COOKIE = "tessera_link"
#: how long an entered password keeps a link open in that browser
UNLOCK_MAX_AGE = 12 * 3600
_LABEL = b"tessera link unlock\x00"


@dataclass(frozen=True, slots=True)
class LinkLimits:
    visits: RateLimiter | None
    passwords: RateLimiter | None
    password_addresses: RateLimiter | None


LINK_LIMITS = web.AppKey("link_limits", LinkLimits)


def setup_limits(app: web.Application) -> None:
    """The link limits of ``app``, made from its settings when it starts."""
    app.on_startup.append(_make_limits)


async def _make_limits(app: web.Application) -> None:
    s = app[SETTINGS]
    rate, prate = s.link_rate_limit, s.link_password_rate_limit
    app[LINK_LIMITS] = LinkLimits(
        RateLimiter(rate, s.link_burst) if rate > 0 else None,
        RateLimiter(prate, s.link_password_burst) if prate > 0 else None,
        RateLimiter(prate * 3, s.link_password_burst * 3) if prate > 0 else None,
    )


def _take(limiter: RateLimiter | None, key: Hashable, what: str) -> None:
    wait = limiter.take(key) if limiter is not None else 0.0
    if wait:
        raise RateLimited(f"too many {what}; retry in {wait:.1f} s", retry_after=round(wait, 3))


async def open_link(request: web.Request, action: str) -> Link:
    """The working link of the URL's token (rate limited per address; ``action`` logged);
    LinkGone if it was revoked or expired, NotFound if there is none."""
    address = request.remote or ""
    _take(request.app[LINK_LIMITS].visits, address, "link requests from this address")
    async with db.connection(request.app[POOL]) as conn:
        link = await store.by_token(conn, request.match_info["token"])
    log.info("link %d: %s %r from %s (%s)", link.id, action, request.match_info.get("sub", ""), address, link.state())
    return link.check_open()


def _cookie_value(secret: bytes, link: Link, expires: int) -> str:
    msg = _LABEL + f"{link.id}:{expires}:{link.password_hash}".encode()
    return f"{expires}.{hmac.new(secret, msg, hashlib.sha256).hexdigest()}"


def cookie_name(link: Link) -> str:
    return f"{UNLOCK_COOKIE}_{link.id}"


def unlocked(request: web.Request, link: Link) -> bool:
    """Whether the visitor may see ``link``: it has no password, or the request carries its cookie."""
    if link.password_hash is None:
        return True
    value = request.cookies.get(cookie_name(link), "")
    expires_s, _, _ = value.partition(".")
    if not expires_s.isdigit() or int(expires_s) < time.time():
        return False
    return hmac.compare_digest(value, _cookie_value(request.app[SETTINGS].grant_secret, link, int(expires_s)))


def require_unlocked(request: web.Request, link: Link) -> None:
    if not unlocked(request, link):
        raise LinkPasswordRequired()


async def check_password(request: web.Request, link: Link, given: str) -> bool:
    """Whether ``given`` is the link's password; wrong ones are rate limited per link and address."""
    limits = request.app[LINK_LIMITS]
    address = request.remote or ""
    _take(limits.passwords, link.id, "wrong passwords for this link")
    try:
        _take(limits.password_addresses, address, "wrong link passwords from this address")
    except RateLimited:
        if limits.passwords is not None:
            limits.passwords.give_back(link.id)
        raise
    if link.password_hash is None or len(given) > passwords.MAX_PASSWORD:
        return False
    async with request.app[PASSWORDS].turn(address):
        ok = await passwords.verify_password(given, link.password_hash)
    if ok:
        for limiter, key in ((limits.passwords, link.id), (limits.password_addresses, address)):
            if limiter is not None:
                limiter.give_back(key)
    log.info("link %d: %s password from %s", link.id, "right" if ok else "wrong", address)
    return ok


def set_unlocked(request: web.Request, response: web.StreamResponse, link: Link) -> None:
    expires = int(time.time()) + UNLOCK_MAX_AGE
    response.set_cookie(
        cookie_name(link), _cookie_value(request.app[SETTINGS].grant_secret, link, expires),
        max_age=UNLOCK_MAX_AGE, path=f"/s/{request.match_info['token']}", httponly=True, samesite="Lax",
        secure=request.secure or is_https(request.app[SETTINGS]),
    )  # fmt: skip
