"""What both servers know of the web app's browser sessions: the cookie and the app's origins.

A browser session is an ordinary device token kept in an HttpOnly cookie
(:mod:`metaserver.pages.session`). The metadata server turns the cookie into the
request's bearer token; the block server takes it from the web app's origins only
(a credentialed CORS request, :mod:`blockserver.cors`), for the block PUTs of the
browser's uploads.
"""

from __future__ import annotations

from yarl import URL

from .settings import ServerSettings

#: the cookie that holds a browser session's device token
SESSION_COOKIE = "tessera_session"

#: names of this machine that browsers treat as different sites: a page opened at one of them
#: is let through to the block servers as if it were opened at the other
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def public_url(settings: ServerSettings) -> URL:
    """The URL browsers reach the web app at: ``--public-url``, else ``http(s)://host:meta_port``
    (https when the server serves TLS itself)."""
    if settings.public_url:
        return URL(settings.public_url)
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return URL.build(scheme="https" if settings.tls_cert else "http", host=host, port=settings.meta_port)


def origin_of(url: URL) -> str:
    """``scheme://host[:port]`` of ``url`` (the port only when it is not the scheme's default)."""
    return str(url.origin())


def app_origins(settings: ServerSettings) -> frozenset[str]:
    """The origins the web app is served from, for the block servers' CORS check.

    The public URL's origin; a loopback name also brings its twin (a page opened at
    ``http://localhost:8080`` when the URL says ``127.0.0.1``).
    """
    url = public_url(settings)
    origins = {origin_of(url)}
    if url.host in LOOPBACK_NAMES:
        origins.update(origin_of(url.with_host(name)) for name in LOOPBACK_NAMES)
    return frozenset(origins)


def is_https(settings: ServerSettings) -> bool:
    """Whether the app is served over TLS (its public URL says https)."""
    return public_url(settings).scheme == "https"
