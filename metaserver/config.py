"""Server configuration, built and validated once at the entry point."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = ".tessera"
SECRET_FILE = "grant-secret"


@dataclass(frozen=True)
class ServerConfig:
    database_url: str
    grant_secret: bytes
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = "127.0.0.1"
    meta_port: int = 8080
    block_port: int = 8081
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
    extra: dict = field(default_factory=dict)


def load_grant_secret(data_dir: Path, env_value: str | None) -> bytes:
    """The shared grant secret: from the environment if set, else generated once into the data dir."""
    if env_value:
        return env_value.encode("utf-8")
    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_bytes().strip()
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
    return path.read_bytes().strip()
