"""The web app's middleware: the session cookie as the request's token, CSRF, security headers.

- :func:`session_middleware` turns a session cookie into the request's bearer token, so
  pages and the API routes authenticate a browser exactly as they do a device (the same
  lookup, the same revocation, the same rate limits). An API request (``/v1/...``) made
  with the cookie must carry the session's CSRF token in ``X-CSRF-Token`` (403
  ``bad_csrf_token`` otherwise), whatever its method; a state-changing request whose
  ``Origin`` is neither this server nor the app's public URL is refused too. A request
  with its own ``Authorization`` header is left alone (the cookie is not used).
- :func:`page_errors` answers a page's errors as HTML (not signed in: to the sign-in page).
- :func:`security_headers` gives every answer ``nosniff`` and every page a strict CSP.
"""

from __future__ import annotations

import logging

from aiohttp import web
from yarl import URL

from protocol.errors import BadCsrfToken, BadRequest, NotFound, TesseraError, Unauthorized

from ..core.websession import LOOPBACK_NAMES, app_origins, origin_of
from ..keys import SETTINGS
from . import render, session

log = logging.getLogger(__name__)

API_PREFIX = "/v1/"
#: the page's long-poll: ``GET /v1/changes/longpoll``'s handler on a path of the metadata
#: server's own, since proxies send that route to the notify endpoint (deploy/nginx), which
#: takes bearer tokens only
POLL_PATH = "/poll"
STATIC_PREFIX = "/static/"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_api(request: web.Request) -> bool:
    """A route that answers JSON to scripts (the API, the page's poll): the cookie needs the CSRF
    header there, and errors are JSON."""
    return request.path.startswith(API_PREFIX) or request.path == POLL_PATH


def _origin_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # a browser sends Origin with every cross-origin state-changing request
        return True
    own = f"{request.scheme}://{request.host}"
    return origin == own or origin in app_origins(request.app[SETTINGS])


@web.middleware
async def session_middleware(request: web.Request, handler):
    token = session.session_token(request)
    if token is None or "Authorization" in request.headers:
        return await handler(request)
    if request.method not in _SAFE_METHODS and not _origin_ok(request):
        raise BadCsrfToken("the request comes from another site")
    if is_api(request) and not session.csrf_ok(
        request.app[SETTINGS].grant_secret, token, request.headers.get(session.CSRF_HEADER)
    ):
        raise BadCsrfToken(f"an API request with the session cookie needs the {session.CSRF_HEADER} header")
    headers = request.headers.copy()
    headers["Authorization"] = f"Bearer {token}"
    try:
        request = request.clone(headers=headers)  # (which encodes every header again, as UTF-8)
    except UnicodeEncodeError:  # a header (the cookie's, or any other) had bytes that are not UTF-8
        raise BadRequest("a request header is not UTF-8 text") from None
    return await handler(request)


@web.middleware
async def page_errors(request: web.Request, handler):
    """A page's failure as a page: sign-in for a missing or ended session, else an error page."""
    if is_api(request) or request.path.startswith(STATIC_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except Unauthorized:
        if request.method != "GET":
            raise
        target = URL("/login").with_query(next=request.path_qs) if request.path != "/" else URL("/login")
        resp = render.redirect(str(target))
        if session.session_token(request):
            session.end_session(resp)
        return resp
    except web.HTTPNotFound:
        return render.error_page(request, NotFound(f"there is no page {request.path}"))
    except web.HTTPMethodNotAllowed:
        return render.error_page(request, BadRequest(f"{request.method} is not allowed on {request.path}"))
    except TesseraError as e:
        if e.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, e.message)
        return render.error_page(request, e)


def browser_block_url(request: web.Request, url: str) -> str:
    """A block server's URL as the page should use it: a loopback block server under the name
    the browser reached this server by (the session cookie belongs to that name)."""
    block, page_host = URL(url), request.url.host
    if block.host in LOOPBACK_NAMES and page_host in LOOPBACK_NAMES and block.host != page_host:
        return str(block.with_host(page_host))
    return url


def page_csp(request: web.Request) -> str:
    blocks = " ".join(
        sorted({origin_of(URL(browser_block_url(request, u))) for u in request.app[SETTINGS].block_urls})
    )
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {blocks}; frame-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: nosniff on everything; on pages a strict CSP (unless the handler
    set its own, as user files do), no framing, no referrer to other sites."""
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    if is_api(request):
        return
    h.setdefault("Content-Security-Policy", page_csp(request))
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if not request.path.startswith(STATIC_PREFIX):
        h.setdefault("Cache-Control", "no-store")
