"""Server settings, built and validated once at the entry point (``tessera-server``'s flags and
environment); both servers take the same :class:`ServerSettings`."""

from __future__ import annotations

import math
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .connections import ConnectionLimits

DEFAULT_DATA_DIR = ".tessera"
SECRET_FILE = "grant-secret"
#: days deleted files and replaced versions are kept, unless the operator says otherwise
DEFAULT_RETENTION_DAYS = 30


@dataclass(frozen=True)
class ServerSettings:
    database_url: str
    grant_secret: bytes
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = "127.0.0.1"
    meta_port: int = 8080
    block_port: int = 8081
    #: port of the notify endpoint (long-polls, metaserver/changes/notify_server.py); 0: an ephemeral port
    notify_port: int = 0
    #: the notify endpoint's URL handed to clients (e.g. behind a load balancer); empty: the
    #: metadata server's own host (as the client reached it) with ``notify_port``
    notify_url: str = ""
    #: block server URLs the metadata server hands to clients
    block_urls: tuple[str, ...] = ()
    #: where the local block store keeps blocks
    blocks_dir: Path | None = None
    put_grant_ttl: int = 3600
    get_grant_ttl: int = 3600
    upload_session_ttl: int = 24 * 3600
    #: largest metadata request body (an upload of a 1 TiB file lists 262,144 blocks)
    max_meta_body: int = 64 * 1024 * 1024
    db_pool_min: int = 1
    db_pool_max: int = 10
    #: requests per second each device token may make to the metadata server (per process); 0: off
    rate_limit: float = 200.0
    #: requests a token may make at once before the rate applies
    rate_burst: int = 1000
    #: login attempts per second per (client address, user name) (per process); 0: off
    login_rate_limit: float = 0.1
    login_burst: int = 10
    #: failed logins per second per client address, whatever the user names (per process); 0: off
    login_address_rate_limit: float = 0.5
    login_address_burst: int = 30
    #: anonymous share-link requests per second per client address (per process); 0: off
    link_rate_limit: float = 5.0
    link_burst: int = 100
    #: wrong share-link passwords per second per link, and per client address (per process); 0: off
    link_password_rate_limit: float = 0.1
    link_password_burst: int = 10
    #: searches per second each user may make (per process; a search costs the database more than
    #: other requests, metaserver/search/); 0: off
    search_rate_limit: float = 10.0
    #: searches a user may make at once before the search rate applies
    search_burst: int = 30
    #: password hashes waiting or running at once (per process); more logins get 503 at once
    login_queue: int = 16
    #: a device token unused for this long (seconds) stops working; 0: never
    token_idle_expiry: float = 90 * 86400.0
    #: the URL clients reach the metadata server at (e.g. https://files.example.org behind a
    #: proxy); the notify URL announced to clients is built from it, never from a request's
    #: Host header. It is the web app's URL too: https makes the session cookie Secure, and its
    #: origin is the one block servers let the app's uploads through (CORS, see
    #: metaserver/core/websession.py). Empty: http://host:meta_port as configured (https with
    #: ``tls_cert``)
    public_url: str = ""
    #: TLS without a proxy: a PEM certificate chain and its key, served on every port (None: plain HTTP)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: days deleted files and replaced versions are kept (a user's own setting wins)
    retention_days: int = DEFAULT_RETENTION_DAYS
    #: seconds between pruning runs in each metadata server process (metaserver/lifecycle/); 0: none
    prune_interval: float = 3600.0
    #: upload sessions a user may have open at once (metaserver/uploads/reservations.py)
    max_open_uploads: int = 10_000
    #: new blocks a user's open upload sessions may list, not committed yet (a 1 TiB file: 262,144)
    max_pending_blocks: int = 262_144
    #: what a client connection may do before it is closed (metaserver/core/connections.py)
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    extra: dict = field(default_factory=dict)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or ``500ms``, ``90s``, ``30m``, ``24h``, ``7d``, ``2w``.

    ValueError for anything else, including negative or non-finite values.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"not a duration: {value!r} (try 90s, 30m, 24h, 7d)")
        seconds = float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {value!r}")
    return seconds


#: the shortest grant secret accepted (HMAC-SHA256 keys shorter than its block add nothing)
MIN_SECRET_BYTES = 32


def load_grant_secret(data_dir: Path, env_value: str | None) -> bytes:
    """The shared grant secret: from the environment if set, else generated once into the data dir.

    ValueError if it is shorter than :data:`MIN_SECRET_BYTES` (an empty file, a one-byte value)."""
    if env_value is not None and env_value != "":
        secret = env_value.encode("utf-8")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the grant secret (TESSERA_GRANT_SECRET, or grant-secret in the configuration file) is "
                f"{len(secret)} bytes; it must be at least {MIN_SECRET_BYTES} "
                "(e.g. the output of `openssl rand -hex 32`), the same on every server"
            )
        return secret
    path = data_dir / SECRET_FILE
    if path.exists():
        return _checked_file_secret(path)
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode("ascii")
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(value)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # first writer wins if two processes race
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _checked_file_secret(path)


def _checked_file_secret(path: Path) -> bytes:
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(
            f"{path} holds a {len(secret)}-byte grant secret; it must be at least {MIN_SECRET_BYTES} bytes "
            "(remove the file to have a new one made, and give every server the same)"
        )
    return secret
