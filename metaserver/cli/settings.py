"""Building ``tessera-server``'s settings from its options, the environment and the
configuration file, once, checked.

Nothing deeper reads the environment: ``DATABASE_URL``, ``TESSERA_GRANT_SECRET`` and the S3
credentials (or their keys in the configuration file, :func:`.config_file.unflagged`) are read
here, and every bad value stops the start with one line naming its flag.
"""

from __future__ import annotations

from pathlib import Path

import click

from protocol.errors import TesseraError
from protocol.units import parse_size

from ..core.connections import ConnectionLimits
from ..core.settings import SECRET_FILE, ServerSettings, load_grant_secret
from . import checks
from .account_options import account_settings
from .config_file import unflagged
from .options import duration_arg
from .tls import tls_settings


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


def connection_limits(header_timeout, idle_timeout, body_min_rate, body_timeout, max_connections_per_client):
    """The ConnectionLimits of the connection options."""
    try:
        rate = parse_size(body_min_rate)
    except TesseraError as e:
        raise click.BadParameter(e.message, param_hint="--body-min-rate") from None
    return ConnectionLimits(
        header_timeout=_positive_duration(header_timeout, "--header-timeout"),
        idle_timeout=_positive_duration(idle_timeout, "--idle-timeout"),
        body_min_rate=max(1, rate),
        body_timeout=_positive_duration(body_timeout, "--body-timeout"),
        max_per_client=max_connections_per_client,
    )


def _positive_duration(text: str, flag: str) -> float:
    seconds = duration_arg(text, flag)
    if seconds <= 0:
        raise click.BadParameter("must be more than 0", param_hint=flag)
    return seconds


def store_extra(s3_endpoint, s3_bucket, s3_region, s3_prefix, s3_checksum_sha256, s3_max_connections) -> dict:
    extra = _s3_extra(s3_endpoint, s3_bucket, s3_region, s3_prefix)
    if s3_checksum_sha256 is not None:
        extra["s3_checksum_sha256"] = s3_checksum_sha256
    if s3_max_connections is not None:
        extra["s3_max_connections"] = s3_max_connections
    return extra


def _block_extra(put_concurrency, put_per_user, put_queue_timeout, put_idle_timeout, gc_interval, gc_grace) -> dict:
    extra: dict = {}
    if put_concurrency is not None:
        extra["put_concurrency"] = put_concurrency
    if put_per_user is not None:
        extra["put_per_user"] = put_per_user
    for key, flag, value in (
        ("put_queue_timeout", "--put-queue-timeout", put_queue_timeout),
        ("put_idle_timeout", "--put-idle-timeout", put_idle_timeout),
        ("gc_interval", "--gc-interval", gc_interval),
        ("gc_grace", "--gc-grace", gc_grace),
    ):
        if value is not None:
            extra[key] = duration_arg(value, flag)
    return extra


def _notify_port(notify_port: int | None, meta_port: int) -> int:
    if notify_port is not None:
        return notify_port
    return 0 if meta_port == 0 else meta_port + 2


def build_settings(command: str, data_dir: Path, *, prepare: bool = True, **kw) -> ServerSettings:
    """The settings of a serving command (``run``, ``meta``, ``block``) from its options, the
    environment and the configuration file, checked (a bad one stops the start with one line
    naming it).

    ``prepare``: create the data dir and read (or generate) the grant secret there; without it
    (``config check``) nothing is written, and a grant secret not given is left empty."""
    from blockserver.settings import BlockServerSettings

    accounts = account_settings(kw, duration_arg, _rate_arg)
    tls = tls_settings(kw)
    ttl = duration_arg(kw.pop("upload_ttl"), "--upload-ttl")
    if ttl < 1:
        raise click.BadParameter("must be at least 1s", param_hint="--upload-ttl")
    block_keys = ("put_concurrency", "put_per_user", "put_queue_timeout", "put_idle_timeout", "gc_interval", "gc_grace")
    extra = {**store_extra(**{k: kw.pop(k) for k in STORE_KEYS}), **_block_extra(*(kw.pop(k) for k in block_keys))}
    limits = connection_limits(*(kw.pop(k) for k in CONNECTION_KEYS))
    database = checks.database_url(unflagged("database-url"), command, kw.pop("embedded_db"))
    data_dir = data_dir.resolve()
    secret = _grant_secret(data_dir, prepare)
    meta_port, notify_url = kw.pop("meta_port"), kw.pop("notify_url")
    settings = ServerSettings(
        database_url=database,
        grant_secret=secret,
        data_dir=data_dir,
        host=kw.pop("host"),
        meta_port=meta_port,
        block_port=kw.pop("block_port"),
        notify_port=_notify_port(kw.pop("notify_port"), meta_port),
        notify_url=checks.base_url(notify_url, "--notify-url") if notify_url else "",
        block_urls=checks.block_urls(kw.pop("block_urls")),
        blocks_dir=data_dir / "blocks",
        upload_session_ttl=max(1, round(ttl)),
        rate_limit=_rate_arg(kw.pop("rate_limit"), "--rate-limit"),
        rate_burst=kw.pop("rate_burst"),
        login_rate_limit=_rate_arg(kw.pop("login_rate_limit"), "--login-rate-limit"),
        login_burst=kw.pop("login_burst"),
        retention_days=kw.pop("retention_days"),
        prune_interval=duration_arg(kw.pop("prune_interval"), "--prune-interval"),
        search_rate_limit=_rate_arg(kw.pop("search_rate_limit"), "--search-rate-limit"),
        search_burst=kw.pop("search_burst"),
        max_open_uploads=kw.pop("max_open_uploads"),
        max_pending_blocks=kw.pop("max_pending_blocks"),
        connections=limits,
        extra=extra,
        **accounts,
        **tls,
    )
    assert not kw, f"options not used: {sorted(kw)}"
    try:
        BlockServerSettings.from_settings(settings)  # a bad block server setting stops the start here
    except ValueError as e:
        raise click.UsageError(f"bad block server setting: {e}") from None
    return settings


def _grant_secret(data_dir: Path, prepare: bool) -> bytes:
    """The grant secret (``TESSERA_GRANT_SECRET``, ``grant-secret`` in the file, else the data dir's
    file, made if ``prepare`` and missing), checked; empty if not ``prepare`` and there is none yet."""
    given = unflagged("grant-secret")
    if not prepare and not given and not (data_dir / SECRET_FILE).exists():
        return b""  # `config check` writes nothing: a server would generate one at its first start
    if prepare:
        data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return load_grant_secret(data_dir, given)
    except ValueError as e:
        raise click.UsageError(str(e)) from None


STORE_KEYS = ("s3_endpoint", "s3_bucket", "s3_region", "s3_prefix", "s3_checksum_sha256", "s3_max_connections")
CONNECTION_KEYS = ("header_timeout", "idle_timeout", "body_min_rate", "body_timeout", "max_connections_per_client")
