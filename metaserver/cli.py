"""``tessera-server``: the operator's command.

Configuration comes from flags and the environment (``TESSERA_*``,
``DATABASE_URL``) and is built once here; nothing deeper reads the environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from protocol.errors import TesseraError
from protocol.units import parse_size

from .config import DEFAULT_DATA_DIR, ServerConfig, load_grant_secret

log = logging.getLogger("tessera.server")


def _run_async(coro) -> None:
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


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO


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
        "s3_access_key": os.environ.get("TESSERA_S3_ACCESS_KEY"),
        "s3_secret_key": os.environ.get("TESSERA_S3_SECRET_KEY"),
    }


def server_options(f):
    opts = [
        click.option("--host", envvar="TESSERA_HOST", default="127.0.0.1", show_default=True, help="Address to listen on."),
        click.option("--meta-port", envvar="TESSERA_META_PORT", type=int, default=8080, show_default=True),
        click.option("--block-port", envvar="TESSERA_BLOCK_PORT", type=int, default=8081, show_default=True),
        click.option(
            "--block-url",
            "block_urls",
            multiple=True,
            envvar="TESSERA_BLOCK_URLS",
            help="Block server URL handed to clients (repeat for several; default: the local one).",
        ),
        click.option("--s3-endpoint", envvar="TESSERA_S3_ENDPOINT", help="Keep blocks in S3 at this endpoint URL."),
        click.option("--s3-bucket", envvar="TESSERA_S3_BUCKET", help="The S3 bucket for blocks."),
        click.option("--s3-region", envvar="TESSERA_S3_REGION", default=None, help="The S3 region."),
        click.option("--s3-prefix", envvar="TESSERA_S3_PREFIX", default="", help="Key prefix inside the bucket."),
        click.option("--log-level", envvar="TESSERA_LOG_LEVEL", default="info", show_default=True),
        data_dir_option,
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _config(data_dir: Path, host, meta_port, block_port, block_urls, s3_endpoint, s3_bucket, s3_region, s3_prefix) -> ServerConfig:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return ServerConfig(
        database_url=os.environ.get("DATABASE_URL", ""),
        grant_secret=load_grant_secret(data_dir, os.environ.get("TESSERA_GRANT_SECRET")),
        data_dir=data_dir,
        host=host,
        meta_port=meta_port,
        block_port=block_port,
        block_urls=tuple(u.rstrip("/") for u in block_urls),
        blocks_dir=data_dir / "blocks",
        extra=_s3_extra(s3_endpoint, s3_bucket, s3_region, s3_prefix),
    )


def _announce(urls: dict[str, str], config: ServerConfig) -> None:
    lines = []
    if "meta" in urls:
        lines.append(f"metadata server: {urls['meta']}")
    if "block" in urls:
        where = f"s3 bucket {config.extra['s3_bucket']}" if config.extra.get("s3_bucket") else str(config.blocks_dir)
        lines.append(f"block server:    {urls['block']}  (blocks in {where})")
    if "meta" in urls:
        lines += [
            "",
            "Connect a client:",
            f"  tessera-server user add NAME --data-dir {config.data_dir}   # once, to create a user",
            f"  tessera login --server {urls['meta']} --user NAME",
            "Stop with Ctrl-C.",
        ]
    click.echo("\n".join(lines), err=False)
    sys.stdout.flush()


def _serve(meta: bool, block: bool, data_dir, log_level, **kw) -> None:
    _setup_logging(log_level)
    config = _config(data_dir, **kw)
    try:
        _run_async(_run(config, meta, block))
    except TesseraError as e:
        click.echo(f"tessera-server: error: {e.message} ({e.code})", err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        click.echo(f"tessera-server: error: {e.strerror or e}", err=True)
        sys.exit(1)


async def _run(config: ServerConfig, meta: bool, block: bool) -> None:
    from .runner import run_servers

    await run_servers(config, meta=meta, block=block, announce=_announce)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run and administer a Tessera server."""


@main.command()
@server_options
def run(**kw) -> None:
    """Start PostgreSQL (embedded unless DATABASE_URL is set), migrate, and run both servers."""
    _serve(True, True, **kw)


@main.command()
@server_options
def meta(**kw) -> None:
    """Run one metadata server (scale out: run any number behind a load balancer)."""
    _serve(True, False, **kw)


@main.command()
@server_options
def block(**kw) -> None:
    """Run one block server (scale out: run any number; list them with --block-url)."""
    _serve(False, True, **kw)


async def _with_db(data_dir: Path, fn):
    """Run ``fn(conn)`` against the configured database (starting the embedded one if needed)."""
    import asyncpg

    from . import migrate
    from .runner import database

    async with database(os.environ.get("DATABASE_URL"), data_dir) as dsn:
        await migrate.apply_dsn(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            return await fn(conn)
        finally:
            await conn.close()


def _db_command(data_dir: Path, fn):
    try:
        return asyncio.run(_with_db(data_dir.resolve(), fn))
    except TesseraError as e:
        click.echo(f"tessera-server: error: {e.message} ({e.code})", err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        click.echo(f"tessera-server: error: cannot reach the database: {e}", err=True)
        sys.exit(1)


@main.command()
@data_dir_option
def migrate(data_dir: Path) -> None:
    """Apply database migrations (applying twice is a no-op)."""
    from . import migrate as m

    async def go(conn):
        return await m.apply(conn)

    applied = _db_command(data_dir, go)
    click.echo(f"applied migrations: {applied}" if applied else "database is up to date")


@main.group()
def user() -> None:
    """Manage users."""


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
    else:
        pw = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not pw:
        raise click.UsageError("the password must not be empty")
    return pw


def _size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except TesseraError as e:
        raise click.BadParameter(e.message) from None


@user.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--quota", default=None, help="Storage quota, e.g. 50G (default: unlimited).")
@data_dir_option
def user_add(name: str, password_stdin: bool, quota: str | None, data_dir: Path) -> None:
    """Create a user."""
    from .users import create_user

    quota_bytes = _size_arg(quota) if quota else None
    password = _read_password(password_stdin)

    async def go(conn):
        return await create_user(conn, name, password, quota_bytes)

    _db_command(data_dir, go)
    click.echo(f"created user {name}")


@user.command("quota")
@click.argument("name")
@click.argument("size")
@data_dir_option
def user_quota(name: str, size: str, data_dir: Path) -> None:
    """Set a user's storage quota (e.g. 50G; 'none' for unlimited)."""
    from .users import set_quota

    quota_bytes = None if size.lower() in ("none", "unlimited") else _size_arg(size)

    async def go(conn):
        await set_quota(conn, name, quota_bytes)

    _db_command(data_dir, go)
    click.echo(f"quota of {name}: {size}")


@user.command("list")
@data_dir_option
def user_list(data_dir: Path) -> None:
    """List users with their usage and quota."""

    async def go(conn):
        return await conn.fetch(
            """SELECT u.name, u.quota_bytes,
                      (SELECT coalesce(sum(size), 0) FROM blocks b WHERE b.owner_id = u.id AND b.state = 'stored') AS used
                 FROM users u ORDER BY u.name_key"""
        )

    for r in _db_command(data_dir, go):
        quota = "unlimited" if r["quota_bytes"] is None else str(r["quota_bytes"])
        click.echo(f"{r['name']}\tused={r['used']}\tquota={quota}")


if __name__ == "__main__":
    main()
