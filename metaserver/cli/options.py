"""Options of ``tessera-server``, shared by its commands (the settings they make: :mod:`.settings`).

Settings come from flags, the environment (``TESSERA_*``, ``DATABASE_URL``) and the TOML
configuration file (:mod:`.config_file`), and are built once; nothing deeper reads the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from protocol.errors import TesseraError

from ..core.settings import DEFAULT_DATA_DIR, DEFAULT_RETENTION_DAYS, parse_duration
from .account_options import account_options
from .config_file import config_option
from .logs import log_format_option
from .tls import tls_options


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn a domain or OS error into one line on stderr and an exit code, no traceback."""
    try:
        yield
    except TesseraError as e:
        click.echo(f"tessera-server: error: {e.message} ({e.code})", err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        click.echo(f"tessera-server: error: {e.strerror or e}", err=True)
        sys.exit(1)


def run_async(coro) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        asyncio.run(coro)


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TESSERA_DATA_DIR",
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Where the embedded PostgreSQL, the local blocks and the grant secret live.",
)


def setup_logging(level: str, log_format: str = "text") -> None:
    from .logs import setup_logging as setup

    setup(level, log_format)


def duration_arg(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=flag) from None


def _apply(f, opts):
    """Decorate ``f`` with click options (or groups of them), the first listed first in --help."""
    for opt in reversed(opts):
        f = opt(f)
    return f


def store_options(f):
    """Where blocks live: the block servers and ``tessera-server gc`` take these."""
    opts = [
        click.option("--s3-endpoint", envvar="TESSERA_S3_ENDPOINT", help="Keep blocks in S3 at this endpoint URL."),
        click.option("--s3-bucket", envvar="TESSERA_S3_BUCKET", help="The S3 bucket for blocks."),
        click.option("--s3-region", envvar="TESSERA_S3_REGION", default=None, help="The S3 region."),
        click.option("--s3-prefix", envvar="TESSERA_S3_PREFIX", default="", help="Key prefix inside the bucket."),
        click.option(
            "--s3-checksum-sha256/--no-s3-checksum-sha256",
            envvar="TESSERA_S3_CHECKSUM_SHA256",
            default=None,
            help="Send x-amz-checksum-sha256 with each put [default: on]; off for services that reject it.",
        ),
        click.option(
            "--s3-max-connections",
            envvar="TESSERA_S3_MAX_CONNECTIONS",
            type=click.IntRange(min=1),
            default=None,
            help="Size of the S3 connection pool [default: 32].",
        ),
    ]
    return _apply(f, opts)


def listen_options(f):
    """Where the servers listen, and the URLs the metadata server hands to clients."""
    return _apply(f, [
        click.option("--host", envvar="TESSERA_HOST", default="127.0.0.1", show_default=True, help="Address to listen on."),
        click.option("--meta-port", envvar="TESSERA_META_PORT", type=int, default=8080, show_default=True),
        click.option("--block-port", envvar="TESSERA_BLOCK_PORT", type=int, default=8081, show_default=True),
        click.option(
            "--notify-port",
            envvar="TESSERA_NOTIFY_PORT",
            type=click.IntRange(min=0, max=65535),
            default=None,
            help="Port of the notify endpoint (clients' long-polls) [default: --meta-port + 2, 8082; "
            "0 when --meta-port is 0].",
        ),
        click.option(
            "--notify-url",
            envvar="TESSERA_NOTIFY_URL",
            default="",
            help="The notify endpoint's URL handed to clients, e.g. behind a load balancer "
            "[default: the metadata server's host as the client reached it, on --notify-port].",
        ),
        click.option(
            "--block-url",
            "block_urls",
            multiple=True,
            envvar="TESSERA_BLOCK_URLS",
            help="Block server URL handed to clients (repeat for several; default: the local one).",
        ),
    ])  # fmt: skip


def limit_options(f):
    """What the metadata server allows: upload session lifetime, rate limits, upload sizes."""
    return _apply(f, [upload_ttl_option, rate_options, upload_limit_options])


upload_ttl_option = click.option(
    "--upload-ttl",
    envvar="TESSERA_UPLOAD_TTL",
    default="24h",
    show_default=True,
    help="How long an upload session can be resumed (e.g. 24h, 90m).",
)


def rate_options(f):
    """Requests, failed logins and searches per token, address or user."""
    return _apply(f, [
        click.option(
            "--rate-limit",
            envvar="TESSERA_RATE_LIMIT",
            default="200/s",
            show_default=True,
            help="Metadata requests per device token and server process (0: no limit).",
        ),
        click.option(
            "--rate-burst",
            envvar="TESSERA_RATE_BURST",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="Requests a token may make at once before --rate-limit applies.",
        ),
        click.option(
            "--login-rate-limit",
            envvar="TESSERA_LOGIN_RATE_LIMIT",
            default="6/min",
            show_default=True,
            help="Failed logins per client address and user name, per server process (0: no limit).",
        ),
        click.option(
            "--login-burst",
            envvar="TESSERA_LOGIN_BURST",
            type=click.IntRange(min=1),
            default=10,
            show_default=True,
            help="Failed logins allowed at once before --login-rate-limit applies.",
        ),
        click.option(
            "--search-rate-limit",
            envvar="TESSERA_SEARCH_RATE_LIMIT",
            default="10/s",
            show_default=True,
            help="Searches per user and server process (0: no limit); they also count as requests.",
        ),
        click.option(
            "--search-burst",
            envvar="TESSERA_SEARCH_BURST",
            type=click.IntRange(min=1),
            default=30,
            show_default=True,
            help="Searches a user may make at once before --search-rate-limit applies.",
        ),
    ])  # fmt: skip


def upload_limit_options(f):
    """How much one user's open upload sessions may hold."""
    return _apply(f, [
        click.option(
            "--max-open-uploads",
            envvar="TESSERA_MAX_OPEN_UPLOADS",
            type=click.IntRange(min=1),
            default=10_000,
            show_default=True,
            help="Upload sessions one user may have open at once.",
        ),
        click.option(
            "--max-pending-blocks",
            envvar="TESSERA_MAX_PENDING_BLOCKS",
            type=click.IntRange(min=1),
            default=262_144,
            show_default=True,
            help="New blocks one user's open upload sessions may list before they are committed "
            "(262,144: a 1 TiB file).",
        ),
    ])  # fmt: skip


def connection_options(f):
    """What a client connection may do before it is closed (every port)."""
    return _apply(f, [
        click.option(
            "--header-timeout",
            envvar="TESSERA_HEADER_TIMEOUT",
            default="10s",
            show_default=True,
            help="A request head must arrive within this long (of its first byte, or of the connection opening).",
        ),
        click.option(
            "--idle-timeout",
            envvar="TESSERA_IDLE_TIMEOUT",
            default="60s",
            show_default=True,
            help="A kept-alive connection with no request in progress is closed after this long.",
        ),
        click.option(
            "--body-min-rate",
            envvar="TESSERA_BODY_MIN_RATE",
            default="1K",
            show_default=True,
            help="Bytes a second a request body must average while the server reads it (e.g. 1K, 4096).",
        ),
        click.option(
            "--body-timeout",
            envvar="TESSERA_BODY_TIMEOUT",
            default="30s",
            show_default=True,
            help="How far a body (or an answer the client does not take) may fall behind before the "
            "connection is closed.",
        ),
        click.option(
            "--max-connections-per-client",
            envvar="TESSERA_MAX_CONNECTIONS_PER_CLIENT",
            type=click.IntRange(min=0),
            default=256,
            show_default=True,
            help="Connections one client address may hold open on each port (0: no limit; behind a "
            "proxy every client has the proxy's address).",
        ),
    ])  # fmt: skip


def block_server_options(f):
    """The block server's PUT slots and timeouts, and its periodic garbage collection."""
    return _apply(f, [
        click.option(
            "--put-concurrency",
            envvar="TESSERA_PUT_CONCURRENCY",
            type=click.IntRange(min=1),
            default=None,
            help="Block PUTs a block server receives at once; more wait for a slot [default: 32].",
        ),
        click.option(
            "--put-per-user",
            envvar="TESSERA_PUT_PER_USER",
            type=click.IntRange(min=1),
            default=None,
            help="Of those, the PUTs one user may have received at once [default: a quarter of --put-concurrency].",
        ),
        click.option(
            "--put-queue-timeout",
            envvar="TESSERA_PUT_QUEUE_TIMEOUT",
            default=None,
            help="How long a block PUT waits for a slot before 503 [default: 30s].",
        ),
        click.option(
            "--put-idle-timeout",
            envvar="TESSERA_PUT_IDLE_TIMEOUT",
            default=None,
            help="How long a block PUT may send no bytes before it is dropped [default: 60s].",
        ),
        click.option(
            "--gc-interval",
            envvar="TESSERA_GC_INTERVAL",
            default=None,
            help="Time between garbage collection runs in each block server; 0: none [default: 1h].",
        ),
        click.option(
            "--gc-grace",
            envvar="TESSERA_GC_GRACE",
            default=None,
            help="How long a block stays unreferenced before it is deleted [default: 24h].",
        ),
    ])  # fmt: skip


retention_days_option = click.option(
    "--retention-days",
    envvar="TESSERA_RETENTION_DAYS",
    type=click.IntRange(1, 36500),
    default=DEFAULT_RETENTION_DAYS,
    show_default=True,
    help="Days deleted files and replaced versions are kept (a user's own setting wins: "
    "tessera-server user retention).",
)


def retention_options(f):
    """How long deleted files and old versions are kept, and how often the metadata servers prune."""
    return _apply(f, [
        retention_days_option,
        click.option(
            "--prune-interval",
            envvar="TESSERA_PRUNE_INTERVAL",
            default="1h",
            show_default=True,
            help="Time between pruning runs in each metadata server (expired versions and trash); 0: none.",
        ),
    ])  # fmt: skip


def server_options(f):
    """Every option of the serving commands (run, meta, block)."""
    return _apply(f, [
        listen_options,
        limit_options,
        connection_options,
        account_options,
        retention_options,
        block_server_options,
        store_options,
        embedded_db_option,
        click.option("--log-level", envvar="TESSERA_LOG_LEVEL", default="info", show_default=True),
        log_format_option,
        tls_options,
        data_dir_option,
        config_option,
    ])  # fmt: skip


embedded_db_option = click.option(
    "--embedded-db",
    is_flag=True,
    envvar="TESSERA_EMBEDDED_DB",
    help="Without DATABASE_URL, start an embedded PostgreSQL under --data-dir (the default of `run` "
    "only: `meta`, `block` and `gc` refuse to start without DATABASE_URL otherwise).",
)
