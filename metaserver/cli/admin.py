"""``tessera-server migrate | user ... | gc``: administration against the database."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from protocol.errors import TesseraError
from protocol.units import format_size, parse_size

from ..core.settings import ServerSettings
from . import checks
from .config_file import config_option, unflagged
from .options import (
    data_dir_option,
    duration_arg,
    embedded_db_option,
    exit_on_error,
    setup_logging,
    store_options,
)
from .settings import store_extra


async def _with_db(data_dir: Path, fn, migrate_first: bool = True):
    """Run ``fn(conn)`` against the configured database (starting the embedded one if needed),
    migrated first unless ``migrate_first`` is false."""
    import asyncpg

    from ..core import migrate
    from .runner import database

    async with database(unflagged("database-url"), data_dir) as dsn:
        if migrate_first:
            await migrate.apply_dsn(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            return await fn(conn)
        finally:
            await conn.close()


def db_command(data_dir: Path, fn, migrate_first: bool = True):
    data_dir = data_dir.resolve()
    # no DATABASE_URL: the embedded database of a data dir that exists, never a new empty one
    checks.existing_data_dir(data_dir, unflagged("database-url"))
    with exit_on_error():
        return asyncio.run(_with_db(data_dir, fn, migrate_first))


@click.command()
@data_dir_option
@config_option
def migrate(data_dir: Path) -> None:
    """Apply database migrations (applying twice is a no-op)."""
    from ..core import migrate as m

    async def go(conn):
        return await m.apply(conn)

    applied = db_command(data_dir, go, migrate_first=False)  # the migrations `go` applies are the news
    if applied:
        click.echo(f"applied {len(applied)} migration{'s' if len(applied) > 1 else ''}: "
                   + ", ".join(f"{v:03d}" for v in applied))  # fmt: skip
    else:
        click.echo("database is up to date")


@click.group()
def user() -> None:
    """Manage users."""


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
    else:
        pw = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    from ..core.passwords import check_new_password

    try:
        return check_new_password(pw)
    except TesseraError as e:
        raise click.UsageError(e.message) from None


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
@config_option
def user_add(name: str, password_stdin: bool, quota: str | None, data_dir: Path) -> None:
    """Create a user."""
    from ..core.users import create_user

    quota_bytes = _size_arg(quota) if quota else None
    password = _read_password(password_stdin)

    async def go(conn):
        return await create_user(conn, name, password, quota_bytes)

    db_command(data_dir, go)
    click.echo(f"created user {name}")


@user.command("quota")
@click.argument("name")
@click.argument("size")
@data_dir_option
@config_option
def user_quota(name: str, size: str, data_dir: Path) -> None:
    """Set a user's storage quota, such as 50G or 1.5T ('none': unlimited)."""
    from ..core.users import set_quota

    quota_bytes = None if size.lower() in ("none", "unlimited") else _size_arg(size)

    async def go(conn):
        await set_quota(conn, name, quota_bytes)

    db_command(data_dir, go)
    click.echo(f"quota of {name}: {size}")


def _when(value) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _users_table(rows: list[dict]) -> str:
    head = ("NAME", "CREATED", "QUOTA", "USED", "CURRENT", "VERSIONS", "TRASH", "RETENTION", "DEVICES", "DISABLED")
    table = [head] + [
        (
            r["name"],
            _when(r["created_at"]),
            "unlimited" if r["quota_bytes"] is None else format_size(r["quota_bytes"]),
            format_size(r["used_bytes"]),
            format_size(r["current_bytes"]),
            format_size(r["version_bytes"]),
            format_size(r["trash_bytes"]),
            "default" if r["retention_days"] is None else f"{r['retention_days']} days",
            str(r["devices"]),
            "yes" if r["disabled"] else "no",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    right = {2, 3, 4, 5, 6, 8}
    return "\n".join(
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        for row in table
    )


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--token-idle-expiry",
    envvar="TESSERA_TOKEN_IDLE_EXPIRY",
    default="90d",
    show_default=True,
    help="The servers' idle expiry: devices unused for longer are not counted.",
)
@data_dir_option
@config_option
def user_list(as_json: bool, token_idle_expiry: str, data_dir: Path) -> None:
    """List users: created, quota, use (what the quota counts; current files, older versions,
    trash), retention, devices signed in, disabled."""
    from ..core.users import list_users

    idle = duration_arg(token_idle_expiry, "--token-idle-expiry")

    async def go(conn):
        return await list_users(conn, idle)

    rows = db_command(data_dir, go)
    if as_json:
        doc = [
            {
                "name": r["name"],
                "created": r["created_at"].timestamp(),
                "quota_bytes": r["quota_bytes"],
                "used_bytes": r["used_bytes"],
                "current_bytes": r["current_bytes"],
                "version_bytes": r["version_bytes"],
                "trash_bytes": r["trash_bytes"],
                "retention_days": r["retention_days"],
                "devices": r["devices"],
                "disabled": r["disabled"],
            }
            for r in rows
        ]
        click.echo(json.dumps({"users": doc}, indent=2, ensure_ascii=False))
    elif rows:
        click.echo(_users_table(rows))
    else:
        click.echo("no users yet (tessera-server user add NAME)")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of standard input.")
@click.option("--sign-out", is_flag=True, help="Also sign out every device of the user.")
@data_dir_option
@config_option
def user_passwd(name: str, password_stdin: bool, sign_out: bool, data_dir: Path) -> None:
    """Set a user's password (at least 8 characters)."""
    from ..core.users import set_password

    password = _read_password(password_stdin)

    async def go(conn):
        return await set_password(conn, name, password, sign_out=sign_out)

    signed_out = db_command(data_dir, go)
    click.echo(f"password of {name} changed" + (f"; {signed_out} device(s) signed out" if sign_out else ""))


@user.command("disable")
@click.argument("name")
@data_dir_option
@config_option
def user_disable(name: str, data_dir: Path) -> None:
    """Disable a user: their devices stop working at once and they cannot log in."""
    from ..core.users import set_disabled

    changed = db_command(data_dir, lambda conn: set_disabled(conn, name, True))
    click.echo(f"disabled {name}: their devices are signed out and they cannot log in" if changed
               else f"{name} was already disabled")  # fmt: skip


@user.command("enable")
@click.argument("name")
@data_dir_option
@config_option
def user_enable(name: str, data_dir: Path) -> None:
    """Enable a disabled user again (their devices that were not revoked work again)."""
    from ..core.users import set_disabled

    changed = db_command(data_dir, lambda conn: set_disabled(conn, name, False))
    click.echo(f"enabled {name}" if changed else f"{name} was not disabled")


@user.command("revoke-tokens")
@click.argument("name")
@data_dir_option
@config_option
def user_revoke_tokens(name: str, data_dir: Path) -> None:
    """Sign out every device of a user, at once (they can log in again)."""
    from ..core.users import revoke_tokens

    n = db_command(data_dir, lambda conn: revoke_tokens(conn, name))
    click.echo(f"signed out {n} device(s) of {name}")


@user.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@data_dir_option
@config_option
def user_delete(name: str, yes: bool, data_dir: Path) -> None:
    """Delete a user with all their files, versions, upload sessions and devices.

    Their blocks are no longer referenced: garbage collection (the block servers' periodic
    run, or tessera-server gc) deletes them once they are older than its grace period. The
    folders they shared go too: each member's devices drop them, as after an unshare.
    """
    from ..core.users import delete_user, user_id_of
    from ..sharing.shares import dissolve_owned

    async def delete(conn):
        async with conn.transaction():
            members = await dissolve_owned(conn, await user_id_of(conn, name))
            return {**await delete_user(conn, name), "members": members}

    if not yes:
        typed = click.prompt(f"This deletes {name} and every file they have. Type the user name to confirm", default="")
        if typed != name:
            raise click.UsageError("not confirmed; nothing was deleted")
    counts = db_command(data_dir, delete)
    shared = f"; {counts['members']} member(s) of their shared folders lost them" if counts["members"] else ""
    click.echo(
        f"deleted {name}: {counts['versions']} file version(s), {counts['devices']} device(s){shared}; "
        f"{counts['blocks']} block(s) are left to garbage collection"
    )


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
@config_option
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
    database_url = checks.database_url(unflagged("database-url"), "gc", embedded_db)
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
        f"committed uploads {would}released:  {r.sessions_released}",
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

