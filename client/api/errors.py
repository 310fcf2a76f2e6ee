"""Errors that only the client raises.

They are :class:`protocol.errors.TesseraError` kinds like the ones servers send,
so the CLI dispatcher and callers handle every failure the same way. The two
connection failures are :class:`~protocol.errors.Unavailable` (transient) and
differ only in whether the request may have reached the server, which decides
whether a non-idempotent request may be retried.
"""

from __future__ import annotations

from protocol.errors import TesseraError, Unauthorized, Unavailable


class ConnectFailed(Unavailable):
    """Could not connect to the server."""

    #: the request never left this machine: retrying it cannot repeat its effect
    request_sent = False


class ConnectionLost(Unavailable):
    """The connection to the server failed while a request was under way."""

    #: the server may or may not have acted on the request
    request_sent = True


class InsecureConnection(TesseraError):
    """The server's TLS certificate or handshake was rejected."""

    code = "tls_error"
    status = 502
    exit_code = 7


class BadServerURL(TesseraError):
    """The server URL is not valid (expected http://host[:port] or https://host[:port])."""

    code = "bad_server_url"
    status = 400
    exit_code = 2


class FileChanged(TesseraError):
    """The local file changed while it was being uploaded; nothing was committed."""

    code = "file_changed"
    status = 409
    exit_code = 5


class NotLoggedIn(Unauthorized):
    """Not logged in (run `tessera login`)."""

    code = "not_logged_in"
