"""The block server's own settings, read and validated once from ``ServerSettings.extra``.

``ServerSettings`` is shared with the metadata server; settings only the block
server needs travel in its ``extra`` dict under these keys (values may be
strings, as they come from flags or the environment; ``None`` means unset):

=====================  ==============================================================
``s3_bucket``          keep blocks in this S3 bucket (setting it selects S3)
``s3_endpoint``        endpoint URL of an S3-compatible service (default: AWS)
``s3_region``          region name
``s3_access_key``      credentials; default: the standard AWS chain
``s3_secret_key``
``s3_prefix``          key prefix ("folder") inside the bucket
``s3_checksum_sha256`` send ``x-amz-checksum-sha256`` with each put (default true)
``s3_max_connections`` size of the S3 connection pool (default 32)
``put_concurrency``    block PUTs received at once; more wait (default 32)
``put_per_user``       of those, at most this many for one user (default a quarter of them)
``put_queue_timeout``  seconds a PUT may wait for its turn before 503 (default 30)
``put_idle_timeout``   seconds without body bytes before a PUT is dropped (default 60)
``gc_interval``        seconds (or ``30m``, ``1h``...) between garbage collection runs;
                       0 turns the periodic collector off (default 1 h)
``gc_grace``           how long a block stays unreferenced before it is deleted (default 24 h)
``web_origins``        origins of the web app whose pages may PUT blocks here (CORS, with the
                       session cookie): a list or a comma-separated string (default: the
                       metadata server's public URL, :func:`~metaserver.core.websession.app_origins`)
=====================  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metaserver.core.settings import ServerSettings, parse_duration
from metaserver.core.websession import app_origins

from .gc import DEFAULT_GRACE, DEFAULT_INTERVAL

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class S3Settings:
    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    prefix: str = ""
    checksum_sha256: bool = True
    max_connections: int = 32


@dataclass(frozen=True, slots=True)
class BlockServerSettings:
    #: where blocks live when no S3 bucket is configured
    blocks_dir: Path
    #: S3 settings, or None for the local disk store
    s3: S3Settings | None = None
    put_concurrency: int = 32
    #: PUT slots one user may hold at once (blockserver/slots.py)
    put_per_user: int = 8
    put_queue_timeout: float = 30.0
    put_idle_timeout: float = 60.0
    #: seconds between garbage collection runs in this process; 0: none
    gc_interval: float = DEFAULT_INTERVAL
    gc_grace: float = DEFAULT_GRACE
    #: origins of the web app let through CORS (its uploads PUT blocks from the browser)
    web_origins: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> BlockServerSettings:
        """Read and check the settings; ValueError names the first bad one."""
        extra = settings.extra or {}
        blocks_dir = settings.blocks_dir if settings.blocks_dir is not None else settings.data_dir / "blocks"
        s3 = None
        bucket = _text(extra, "s3_bucket")
        if bucket:
            access_key, secret_key = _text(extra, "s3_access_key"), _text(extra, "s3_secret_key")
            if (access_key is None) != (secret_key is None):
                raise ValueError("set both s3_access_key and s3_secret_key, or neither")
            s3 = S3Settings(
                bucket=bucket,
                endpoint_url=_text(extra, "s3_endpoint"),
                region=_text(extra, "s3_region"),
                access_key=access_key,
                secret_key=secret_key,
                prefix=_text(extra, "s3_prefix") or "",
                checksum_sha256=_flag(extra, "s3_checksum_sha256", True),
                max_connections=_number(extra, "s3_max_connections", 32, int),
            )
        elif _text(extra, "s3_endpoint"):
            raise ValueError("s3_endpoint is set but s3_bucket is not")
        put_concurrency = _number(extra, "put_concurrency", 32, int)
        return cls(
            blocks_dir=blocks_dir,
            s3=s3,
            put_concurrency=put_concurrency,
            put_per_user=min(put_concurrency, _number(extra, "put_per_user", max(1, put_concurrency // 4), int)),
            put_queue_timeout=_number(extra, "put_queue_timeout", 30.0, float),
            put_idle_timeout=_number(extra, "put_idle_timeout", 60.0, float),
            gc_interval=_duration(extra, "gc_interval", DEFAULT_INTERVAL),
            gc_grace=_duration(extra, "gc_grace", DEFAULT_GRACE),
            web_origins=_origins(extra) or app_origins(settings),
        )


def _text(extra: dict[str, Any], key: str) -> str | None:
    value = extra.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value.strip() or None


def _flag(extra: dict[str, Any], key: str, default: bool) -> bool:
    value = extra.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{key} must be true or false")


def _number(extra: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    value = extra.get(key)
    if value is None:
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number") from None
    if isinstance(value, bool) or not number > 0:
        raise ValueError(f"{key} must be a positive number")
    return number


def _duration(extra: dict[str, Any], key: str, default: float) -> float:
    value = extra.get(key)
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None


def _origins(extra: dict[str, Any]) -> frozenset[str]:
    value = extra.get("web_origins")
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)) or not all(isinstance(o, str) for o in items):
        raise ValueError("web_origins must be a list of origins or a comma-separated string")
    origins = frozenset(o.strip().rstrip("/") for o in items if o.strip())
    for origin in origins:
        if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
            raise ValueError(f"web_origins: not an origin: {origin!r} (expected http(s)://host[:port])")
    return origins
