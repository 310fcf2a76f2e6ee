"""Choosing the block store backend from the server settings."""

from __future__ import annotations

from metaserver.core.settings import ServerSettings

from ..settings import BlockServerSettings
from .base import BlockStore
from .local import LocalStore


def store_from_settings(settings: BlockServerSettings) -> BlockStore:
    """An S3Store when an S3 bucket is configured, else a LocalStore (not started yet)."""
    if settings.s3 is not None:
        from .s3 import S3Store

        s3 = settings.s3
        return S3Store(
            s3.bucket,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key=s3.access_key,
            secret_key=s3.secret_key,
            prefix=s3.prefix,
            checksum_sha256=s3.checksum_sha256,
            max_connections=s3.max_connections,
        )
    return LocalStore(settings.blocks_dir)


def store_from_server_settings(settings: ServerSettings) -> BlockStore:
    """The block store ``settings`` asks for: S3 if ``extra["s3_bucket"]`` is set, else local disk
    under ``settings.blocks_dir`` (default ``settings.data_dir / "blocks"``). Call ``start()`` on it
    (or use it with ``async with``) before use."""
    return store_from_settings(BlockServerSettings.from_settings(settings))
