"""``tessera-server migrate | user ... | gc``: administration against the database."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from protocol.errors import TesseraError
from protocol.units import format_size, parse_size

from ..core.settings import ServerSettings
from . import checks
from .options import (
    data_dir_option,
    duration_arg,
    embedded_db_option,
    exit_on_error,
    setup_logging,
    store_options,
)
from .settings import store_extra


async def _with_db(data_dir: Path, fn):
    """Run ``fn(conn)`` against the configured database (starting the embedded one if needed)."""
    import asyncpg

    from ..core import migrate
    from .runner import database

    async with database(os.environ.get("DATABASE_URL"), data_dir) as dsn:
        await migrate.apply_dsn(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            return await fn(conn)
        finally:
            await conn.close()


def _db_command(data_dir: Path, fn):
    data_dir = data_dir.resolve()
    # no DATABASE_URL: the embedded database of a data dir that exists, never a new empty one
    checks.existing_data_dir(data_dir, os.environ.get("DATABASE_URL"))
    with exit_on_error():
        return asyncio.run(_with_db(data_dir, fn))


@click.command()
@data_dir_option
def migrate(data_dir: Path) -> None:
    """Apply database migrations (applying twice is a no-op)."""
    from ..core import migrate as m

    async def go(conn):
        return await m.apply(conn)

    applied = _db_command(data_dir, go)
    click.echo(f"applied migrations: {applied}" if applied else "database is up to date")


@click.group()
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
    from ..core.users import create_user

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
    """Set a user's storage quota, such as 50G or 1.5T ('none': unlimited)."""
    from ..core.users import set_quota

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


@click.command("gc")
@click.option(
    "--grace",
    envvar="TESSERA_GC_GRACE",
    default="24h",
    show_default=True,
    help="Delete blocks unreferenced for at least this long (and orphan objects this old).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; change nothing.")
@store_options
@embedded_db_option
@click.option("--log-level", envvar="TESSERA_LOG_LEVEL", default="warning", show_default=True)
@data_dir_option
def gc_command(grace: str, dry_run: bool, embedded_db: bool, log_level: str, data_dir: Path, **store_kw) -> None:
    """Delete blocks nothing references any more, expire old upload sessions, sweep the store.

    A block is deleted once a run has found it unreferenced and a later run (or this
    one, with --grace 0) finds that at least the grace period ago. The block servers
    also run this every --gc-interval; runs never overlap.
    """
    setup_logging(log_level)
    grace_s = duration_arg(grace, "--grace")
    extra = store_extra(**store_kw)
    data_dir = data_dir.resolve()
    database_url = checks.database_url(os.environ.get("DATABASE_URL"), "gc", embedded_db)
    if not database_url:
        checks.existing_data_dir(data_dir, None)
    settings = ServerSettings(
        database_url=database_url, grant_secret=b"", data_dir=data_dir, blocks_dir=data_dir / "blocks", extra=extra
    )
    try:
        with exit_on_error():
            report = asyncio.run(_gc(settings, grace_s, dry_run))
    except ValueError as e:
        raise click.UsageError(f"bad block store setting: {e}") from None
    if report is None:
        click.echo("tessera-server: another garbage collection is running; try again later", err=True)
        sys.exit(1)
    click.echo(_format_gc_report(report, grace))


async def _gc(settings: ServerSettings, grace: float, dry_run: bool):
    from blockserver.binding import bind_store
    from blockserver.gc import GcOptions, collect
    from blockserver.stores.factory import store_from_server_settings

    from ..core import db, migrate
    from .runner import database

    store = store_from_server_settings(settings)  # ValueError for a bad setting, before anything starts
    async with database(settings.database_url, settings.data_dir) as dsn:
        await migrate.apply_dsn(dsn)
        pool = await db.create_pool(dsn, min_size=1, max_size=2)
        try:
            async with store:
                await bind_store(pool, store, write=not dry_run)  # never another deployment's store
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

