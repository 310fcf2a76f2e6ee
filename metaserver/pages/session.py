"""Browser sessions: the session cookie, CSRF tokens, and the device name a browser signs in as.

A session is an ordinary device token (it shows in the user's devices and can be revoked
there), kept in an HttpOnly, SameSite=Lax cookie (Secure when the app is served over TLS).
The CSRF token is a synchronizer token bound to the session: an HMAC of the token's hash
under the server's secret, so every metadata server of the deployment computes the same
one without storing it, and nobody without the secret and the session can. Pages carry it
in a ``<meta>`` tag; forms send it as a field, the page's scripts as a header.

Before a session exists (the sign-in form), a random value in a short-lived cookie is
echoed in the form (double submit), so another site cannot sign a browser in to its account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from aiohttp import web

from ..core.auth import hash_token
from ..core.websession import SESSION_COOKIE, is_https
from ..keys import SETTINGS

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOGIN_COOKIE = "tessera_login"
#: how long the browser keeps the session cookie (the token lives until revoked or idle)
SESSION_MAX_AGE = 30 * 86400
LOGIN_MAX_AGE = 3600
_CSRF_LABEL = b"tessera-web-csrf\0"
#: browser families by their user agent token, most specific first (Edge and Opera say Chrome too)
_FAMILIES = (
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Firefox", re.compile(r"\bFirefox/|\bFxiOS/")),
    ("Chrome", re.compile(r"\bChrom(e|ium)/|\bCriOS/|HeadlessChrome/")),
    ("Safari", re.compile(r"\bSafari/")),
)


def csrf_token(secret: bytes, token: str) -> str:
    """The CSRF token of the session whose device token is ``token``."""
    mac = hmac.new(secret, _CSRF_LABEL + hash_token(token), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def same_secret(expected: str | None, given: str | None) -> bool:
    """Whether ``given`` (from a form, a header or a cookie: any text) is ``expected``, compared in
    constant time; empty or missing values never match. Compared as bytes: ``compare_digest``
    raises on ``str`` that are not ASCII, and a header's undecodable bytes come as surrogates
    (encoded too: they match nothing)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))


def csrf_ok(secret: bytes, token: str, given: str | None) -> bool:
    return same_secret(csrf_token(secret, token), given)


def device_name(user_agent: str | None) -> str:
    """``web browser`` and the browser's family: how the session shows among the user's devices."""
    for family, pattern in _FAMILIES:
        if user_agent and pattern.search(user_agent):
            return f"web browser ({family})"
    return "web browser"


def session_token(request: web.Request) -> str | None:
    """The device token of the request's session cookie, if it has one."""
    return request.cookies.get(SESSION_COOKIE) or None


def _secure(request: web.Request) -> bool:
    return request.secure or is_https(request.app[SETTINGS])


def set_session(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=SESSION_MAX_AGE, path="/", httponly=True, samesite="Lax",
        secure=_secure(request),
    )  # fmt: skip
    response.del_cookie(LOGIN_COOKIE, path="/")


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def login_nonce(request: web.Request, response: web.StreamResponse) -> str:
    """The sign-in form's double-submit value: the cookie's, or a new one set on ``response``."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
        response.set_cookie(
            LOGIN_COOKIE, nonce, max_age=LOGIN_MAX_AGE, path="/", httponly=True, samesite="Strict",
            secure=_secure(request),
        )  # fmt: skip
    return nonce


def login_nonce_ok(request: web.Request, given: str | None) -> bool:
    return same_secret(request.cookies.get(LOGIN_COOKIE), given)
