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
from protocol.units import format_size, parse_size

from .config import DEFAULT_DATA_DIR, ServerConfig, load_grant_secret, parse_duration

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


def _duration_arg(text: str, flag: str) -> float:
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
    for opt in reversed(opts):
        f = opt(f)
    return f


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
            default="50/s",
            show_default=True,
            help="Metadata requests per device token and server process (0: no limit).",
        ),
        click.option(
            "--rate-burst",
            envvar="TESSERA_RATE_BURST",
            type=click.IntRange(min=1),
            default=200,
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
        store_options,
        click.option("--log-level", envvar="TESSERA_LOG_LEVEL", default="info", show_default=True),
        data_dir_option,
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _store_extra(s3_endpoint, s3_bucket, s3_region, s3_prefix, s3_checksum_sha256, s3_max_connections) -> dict:
    extra = _s3_extra(s3_endpoint, s3_bucket, s3_region, s3_prefix)
    if s3_checksum_sha256 is not None:
        extra["s3_checksum_sha256"] = s3_checksum_sha256
    if s3_max_connections is not None:
        extra["s3_max_connections"] = s3_max_connections
    return extra


def _block_extra(put_concurrency, put_queue_timeout, put_idle_timeout, gc_interval, gc_grace) -> dict:
    extra: dict = {}
    if put_concurrency is not None:
        extra["put_concurrency"] = put_concurrency
    for key, flag, value in (
        ("put_queue_timeout", "--put-queue-timeout", put_queue_timeout),
        ("put_idle_timeout", "--put-idle-timeout", put_idle_timeout),
        ("gc_interval", "--gc-interval", gc_interval),
        ("gc_grace", "--gc-grace", gc_grace),
    ):
        if value is not None:
            extra[key] = _duration_arg(value, flag)
    return extra


def _config(
    data_dir: Path,
    host,
    meta_port,
    block_port,
    block_urls,
    upload_ttl,
    rate_limit,
    rate_burst,
    login_rate_limit,
    login_burst,
    put_concurrency,
    put_queue_timeout,
    put_idle_timeout,
    gc_interval,
    gc_grace,
    **store_kw,
) -> ServerConfig:
    from blockserver.settings import BlockServerSettings

    ttl = _duration_arg(upload_ttl, "--upload-ttl")
    if ttl < 1:
        raise click.BadParameter("must be at least 1s", param_hint="--upload-ttl")
    extra = {
        **_store_extra(**store_kw),
        **_block_extra(put_concurrency, put_queue_timeout, put_idle_timeout, gc_interval, gc_grace),
    }
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = ServerConfig(
        database_url=os.environ.get("DATABASE_URL", ""),
        grant_secret=load_grant_secret(data_dir, os.environ.get("TESSERA_GRANT_SECRET")),
        data_dir=data_dir,
        host=host,
        meta_port=meta_port,
        block_port=block_port,
        block_urls=tuple(u.rstrip("/") for u in block_urls),
        blocks_dir=data_dir / "blocks",
        upload_session_ttl=max(1, round(ttl)),
        rate_limit=_rate_arg(rate_limit, "--rate-limit"),
        rate_burst=rate_burst,
        login_rate_limit=_rate_arg(login_rate_limit, "--login-rate-limit"),
        login_burst=login_burst,
        extra=extra,
    )
    try:
        BlockServerSettings.from_config(config)  # a bad block server setting stops the start here
    except ValueError as e:
        raise click.UsageError(f"bad block server setting: {e}") from None
    return config


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


@main.command("gc")
@click.option(
    "--grace",
    envvar="TESSERA_GC_GRACE",
    default="24h",
    show_default=True,
    help="Delete blocks unreferenced for at least this long (and orphan objects this old).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; change nothing.")
@store_options
@click.option("--log-level", envvar="TESSERA_LOG_LEVEL", default="warning", show_default=True)
@data_dir_option
def gc_command(grace: str, dry_run: bool, log_level: str, data_dir: Path, **store_kw) -> None:
    """Delete blocks nothing references any more, expire old upload sessions, sweep the store.

    A block is deleted once a run has found it unreferenced and a later run (or this
    one, with --grace 0) finds that at least the grace period ago. The block servers
    also run this every --gc-interval; runs never overlap.
    """
    _setup_logging(log_level)
    grace_s = _duration_arg(grace, "--grace")
    extra = _store_extra(**store_kw)
    data_dir = data_dir.resolve()
    config = ServerConfig(
        database_url="", grant_secret=b"", data_dir=data_dir, blocks_dir=data_dir / "blocks", extra=extra
    )
    try:
        report = asyncio.run(_gc(config, grace_s, dry_run))
    except TesseraError as e:
        click.echo(f"tessera-server: error: {e.message} ({e.code})", err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        click.echo(f"tessera-server: error: {e.strerror or e}", err=True)
        sys.exit(1)
    except ValueError as e:
        raise click.UsageError(f"bad block store setting: {e}") from None
    if report is None:
        click.echo("tessera-server: another garbage collection is running; try again later", err=True)
        sys.exit(1)
    click.echo(_format_gc_report(report, grace))


async def _gc(config: ServerConfig, grace: float, dry_run: bool):
    from blockserver.stores import store_from_config

    from . import db, migrate
    from .gc import GcOptions, collect
    from .runner import database

    store = store_from_config(config)  # ValueError for a bad setting, before anything starts
    async with database(os.environ.get("DATABASE_URL"), config.data_dir) as dsn:
        await migrate.apply_dsn(dsn)
        pool = await db.create_pool(dsn, min_size=1, max_size=2)
        try:
            async with store:
                return await collect(pool, store, GcOptions(grace=grace, dry_run=dry_run))
        finally:
            await pool.close()


def _format_gc_report(r, grace: str) -> str:
    would = "would be " if r.dry_run else ""
    lines = [
        f"garbage collection, grace {grace}" + (" (dry run: nothing was changed)" if r.dry_run else ""),
        f"upload sessions {would}expired:     {r.sessions_expired}",
        f"old session records {would}removed: {r.sessions_removed}",
        f"blocks {would}marked unreferenced:  {r.blocks_marked}",
        f"blocks {would}deleted:              {r.blocks_deleted} ({format_size(r.bytes_freed)})",
        f"orphan objects {would}deleted:      {r.orphans_deleted}",
        f"stale temp files {would}removed:    {r.temp_files_removed}",
    ]
    if r.delete_errors:
        lines.append(f"objects that could not be deleted: {r.delete_errors} (a later run retries)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
