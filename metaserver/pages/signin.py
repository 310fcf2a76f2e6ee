"""``/login`` and ``/logout``: a browser signs in with user name and password and gets a
session (a device token named "web browser (Family)" in an HttpOnly cookie); signing out
revokes the token. The login rate limits of ``POST /v1/auth/login`` apply alike."""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web
from yarl import URL

from protocol.errors import (
    AccountDisabled,
    BadCsrfToken,
    BadRequest,
    LengthRequired,
    Unauthorized,
    UnsupportedMediaType,
)

from ..core import passwords, users
from ..core.bodies import body_limit
from ..keys import SETTINGS
from ..web import auth
from . import render, session

#: the largest sign-in or sign-out form body (declared to the body limit middleware, so a
#: larger announced length is 413 before a byte is read)
MAX_FORM = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 16


def parse_form(body: bytes) -> dict[str, str]:
    """A url-encoded form, strictly: UTF-8, a few fields, no NUL (400 ``bad_request`` otherwise)."""
    try:
        fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except ValueError as e:  # not ASCII, bad UTF-8 in an escape (UnicodeDecodeError), too many fields
        raise BadRequest("a malformed form (expected url-encoded UTF-8 text, at most 16 fields)") from e
    if any("\0" in k or "\0" in v for k, v in fields):
        raise BadRequest("a form field holds a NUL character")
    return dict(fields)


async def read_form(request: web.Request) -> dict[str, str]:
    """The request's url-encoded form: its length announced (411 otherwise) and within the
    route's body limit (:func:`~metaserver.core.bodies.body_limit`), the page's own encoding only."""
    if request.content_length is None:
        raise LengthRequired("a form needs a Content-Length")
    if request.content_type != FORM_TYPE:
        raise UnsupportedMediaType(f"a form is sent as {FORM_TYPE}")
    return parse_form(await request.read())


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/files/"
    url = URL(target)
    return str(url) if not url.host else "/files/"


def _form(request: web.Request, target: str, error: str | None = None, name: str = "", status: int = 200):
    """The sign-in form, with its double-submit nonce (a new cookie if the browser has none)."""
    holder = web.Response()
    context = {"title": "Sign in", "nonce": session.login_nonce(request, holder), "next": target,
               "error": error, "name": name}  # fmt: skip
    page = render.page(request, "login.html", context, status=status)
    page.cookies.update(holder.cookies)
    return page


async def login_page(request: web.Request) -> web.Response:
    target = safe_next(request.query.get("next"))
    if "Authorization" in request.headers:  # a session cookie (the middleware made it the token)
        try:
            await auth.authenticate(request)
            return render.redirect(target)  # signed in already
        except Unauthorized:
            pass
    return _form(request, target)


@body_limit(MAX_FORM)
async def login(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    if not session.login_nonce_ok(request, form.get("nonce")):
        raise BadCsrfToken("the sign-in form has expired; reload the page and try again")
    name, password = form.get("user", "").strip(), form.get("password", "")
    target = safe_next(form.get("next"))
    try:
        if not name or not password or len(name) > users.MAX_NAME or len(password) > passwords.MAX_PASSWORD:
            raise Unauthorized("enter your user name and password")
        token, _ = await auth.sign_in(request, name, password, session.device_name(request.headers.get("User-Agent")))
    except (Unauthorized, AccountDisabled) as e:
        return _form(request, target, e.message, name, e.status)
    resp = render.redirect(target)
    session.set_session(request, resp, token)
    return resp


@body_limit(MAX_FORM)
async def logout(request: web.Request) -> web.StreamResponse:
    """Revoke the session's token (as ``POST /v1/auth/logout`` does) and drop the cookie."""
    form = await read_form(request)
    token = session.session_token(request)
    if token is None:
        return render.redirect("/login")
    if not session.csrf_ok(request.app[SETTINGS].grant_secret, token, form.get(session.CSRF_FIELD)):
        raise BadCsrfToken("the sign-out form has expired; reload the page and try again")
    try:
        await auth.logout(request)
    except Unauthorized:
        pass  # revoked already (elsewhere): signed out all the same
    resp = render.redirect("/login")
    session.end_session(resp)
    return resp
