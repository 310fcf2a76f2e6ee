"""Options and settings of ``tessera-server``, shared by its commands.

Settings come from flags and the environment (``TESSERA_*``,
``DATABASE_URL``) and are built once here; nothing deeper reads the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from protocol.errors import TesseraError

from ..core.settings import DEFAULT_DATA_DIR, ServerSettings, load_grant_secret, parse_duration
from .account_options import account_options, account_settings, base_url_arg
from .config_file import config_option, unflagged
from .logs import log_format_option
from .tls import tls_options, tls_settings


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


def _s3_extra(s3_endpoint, s3_bucket, s3_region, s3_prefix) -> dict:
    if not s3_bucket and not s3_endpoint:
        return {}
    if not s3_bucket:
        raise click.UsageError("--s3-bucket (TESSERA_S3_BUCKET) is required with an S3 endpoint")
    return {
        "s3_endpoint": s3_endpoint,
        "s3_bucket": s3_bucket,
        "s3_region": s3_region,
        "s3_prefix": s3_prefix or "",
        "s3_access_key": unflagged("s3-access-key"),
        "s3_secret_key": unflagged("s3-secret-key"),
    }


def duration_arg(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=flag) from None


_RATE = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def _rate_arg(text: str, flag: str) -> float:
    """Requests per second from ``50``, ``50/s``, ``6/min``, ``100/h``; 0 turns the limit off."""
    number, _, unit = text.strip().partition("/")
    try:
        value = float(number) / _RATE[unit.strip().lower() or "s"]
    except (ValueError, KeyError):
        raise click.BadParameter(f"not a rate: {text!r} (try 50, 50/s, 6/min)", param_hint=flag) from None
    if not value >= 0 or value == float("inf"):
        raise click.BadParameter(f"not a rate: {text!r}", param_hint=flag)
    return value


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
    """What the metadata server allows: upload session lifetime, rate limits."""
    return _apply(f, [
        click.option(
            "--upload-ttl",
            envvar="TESSERA_UPLOAD_TTL",
            default="24h",
            show_default=True,
            help="How long an upload session can be resumed (e.g. 24h, 90m).",
        ),
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


def server_options(f):
    """Every option of the serving commands (run, meta, block)."""
    return _apply(f, [
        listen_options,
        limit_options,
        account_options,
        block_server_options,
        store_options,
        click.option("--log-level", envvar="TESSERA_LOG_LEVEL", default="info", show_default=True),
        log_format_option,
        tls_options,
        data_dir_option,
        config_option,
    ])  # fmt: skip


def store_extra(s3_endpoint, s3_bucket, s3_region, s3_prefix, s3_checksum_sha256, s3_max_connections) -> dict:
    extra = _s3_extra(s3_endpoint, s3_bucket, s3_region, s3_prefix)
    if s3_checksum_sha256 is not None:
        extra["s3_checksum_sha256"] = s3_checksum_sha256
    if s3_max_connections is not None:
        extra["s3_max_connections"] = s3_max_connections
    return extra


def _block_extra(kw: dict) -> dict:
    """Take the block server options out of ``kw``; the ``extra`` settings they set."""
    extra: dict = {}
    put_concurrency = kw.pop("put_concurrency")
    if put_concurrency is not None:
        extra["put_concurrency"] = put_concurrency
    for key in ("put_queue_timeout", "put_idle_timeout", "gc_interval", "gc_grace"):
        value = kw.pop(key)
        if value is not None:
            extra[key] = duration_arg(value, "--" + key.replace("_", "-"))
    return extra


def _notify_port(notify_port: int | None, meta_port: int) -> int:
    if notify_port is not None:
        return notify_port
    return 0 if meta_port == 0 else meta_port + 2


def _notify_url(url: str) -> str:
    return base_url_arg(url, "--notify-url")


def build_settings(
    data_dir: Path,
    host,
    meta_port,
    block_port,
    notify_port,
    notify_url,
    block_urls,
    upload_ttl,
    rate_limit,
    rate_burst,
    login_rate_limit,
    login_burst,
    *,
    prepare: bool = True,
    **store_kw,
) -> ServerSettings:
    """The settings of the serving commands' flags; a bad value is a click usage error naming it.

    ``prepare``: create the data dir and read (or generate) the grant secret there; without it
    (``config check``) nothing is written and the grant secret is left empty."""
    from blockserver.settings import BlockServerSettings

    accounts = account_settings(store_kw, duration_arg, _rate_arg)
    tls = tls_settings(store_kw)
    ttl = _upload_ttl(upload_ttl)
    block_extra = _block_extra(store_kw)
    extra = {**store_extra(**store_kw), **block_extra}
    data_dir = data_dir.resolve()
    if prepare:
        data_dir.mkdir(parents=True, exist_ok=True)
    settings = ServerSettings(
        database_url=unflagged("database-url") or "",
        grant_secret=load_grant_secret(data_dir, unflagged("grant-secret")) if prepare else b"",
        data_dir=data_dir,
        host=host,
        meta_port=meta_port,
        block_port=block_port,
        notify_port=_notify_port(notify_port, meta_port),
        notify_url=_notify_url(notify_url),
        block_urls=tuple(u.rstrip("/") for u in block_urls),
        blocks_dir=data_dir / "blocks",
        upload_session_ttl=ttl,
        rate_limit=_rate_arg(rate_limit, "--rate-limit"),
        rate_burst=rate_burst,
        login_rate_limit=_rate_arg(login_rate_limit, "--login-rate-limit"),
        login_burst=login_burst,
        extra=extra,
        **accounts,
        **tls,
    )
    try:
        BlockServerSettings.from_settings(settings)  # a bad block server setting stops the start here
    except ValueError as e:
        raise click.UsageError(f"bad block server setting: {e}") from None
    return settings


def _upload_ttl(text: str) -> int:
    ttl = duration_arg(text, "--upload-ttl")
    if ttl < 1:
        raise click.BadParameter("must be at least 1s", param_hint="--upload-ttl")
    return max(1, round(ttl))

