"""Start-up checks of ``tessera-server``'s settings that stop an operator's mistake before it
does harm: URLs that are not URLs, a database that is not the deployment's, a data dir that is
not there. Each failure is one line naming the flag and its environment variable."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click
from yarl import URL


def base_url(text: str, flag: str, *, allow_path: bool = False) -> str:
    """``text`` as an ``http(s)://host[:port]`` URL (with a path, if ``allow_path``), no trailing slash."""
    raw = text.strip()
    try:
        parsed = URL(raw)
    except ValueError:
        parsed = None
    bad = (
        parsed is None or parsed.scheme not in ("http", "https") or not parsed.host
        or any(c in raw for c in " ,;\t") or parsed.query_string or parsed.fragment
        or (not allow_path and parsed.path not in ("", "/"))
    )  # fmt: skip
    if bad:
        what = "http(s)://host[:port]" + ("[/path]" if allow_path else "")
        kind = "URL" if allow_path else "base URL"
        raise click.BadParameter(f"not a {kind}: {text!r} (expected {what})", param_hint=flag)
    assert parsed is not None
    return str(parsed).rstrip("/")


def block_urls(urls: Iterable[str]) -> tuple[str, ...]:
    """The block server URLs handed to clients, each checked (several are separated by spaces)."""
    hint = "'--block-url' / TESSERA_BLOCK_URLS (separate several with spaces, not commas)"
    return tuple(base_url(u, hint, allow_path=True) for u in urls)


def database_url(env_value: str | None, command: str, embedded_db: bool) -> str:
    """The DSN of ``DATABASE_URL``; "" (an embedded database under the data dir) only where that is
    the default (``run``) or asked for with ``--embedded-db``."""
    if env_value:
        return env_value
    if command == "run" or embedded_db:
        return ""
    raise click.UsageError(
        f"DATABASE_URL is not set (nor database-url in the configuration file): `tessera-server {command}` uses "
        "the deployment's PostgreSQL and does not start an embedded one unless told to (--embedded-db, "
        "TESSERA_EMBEDDED_DB=1 or embedded-db = true in the configuration file)"
    )


def existing_data_dir(data_dir: Path, env_value: str | None) -> None:
    """Refuse to make a new embedded database where the operator expected an existing one."""
    if env_value:
        return
    if not (data_dir / "pg").is_dir():
        raise click.UsageError(
            f"no Tessera data directory at {data_dir} (no embedded database in it): give the server's "
            "with --data-dir or TESSERA_DATA_DIR (or set DATABASE_URL, or database-url in the configuration file)"
        )
