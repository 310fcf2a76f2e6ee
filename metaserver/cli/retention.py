"""``tessera-server prune`` and ``tessera-server user retention``: retention by hand."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from protocol.units import format_size

from .admin import db_command
from .config_file import config_option, unflagged
from .options import data_dir_option, exit_on_error, retention_days_option, setup_logging


@click.command("prune")
@retention_days_option
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; change nothing.")
@click.option("--log-level", envvar="TESSERA_LOG_LEVEL", default="warning", show_default=True)
@data_dir_option
@config_option
def prune_command(retention_days: int, dry_run: bool, log_level: str, data_dir: Path) -> None:
    """Prune old versions and purge expired trash now, as the metadata servers do every --prune-interval.

    Each user's retention (tessera-server user retention) wins over --retention-days. Blocks no
    version references any more are left to garbage collection (tessera-server gc), but quotas
    go down at once.
    """
    setup_logging(log_level)
    with exit_on_error():
        report = asyncio.run(_prune(data_dir.resolve(), retention_days, dry_run))
    if report is None:
        click.echo("tessera-server: another pruning run is going on; try again later", err=True)
        sys.exit(1)
    click.echo(format_report(report, retention_days))


async def _prune(data_dir: Path, days: int, dry_run: bool):
    from ..core import db, migrate
    from ..lifecycle import prune
    from .runner import database

    async with database(unflagged("database-url"), data_dir) as dsn:
        await migrate.apply_dsn(dsn)
        pool = await db.create_pool(dsn, min_size=1, max_size=2)
        try:
            return await prune(pool, default_days=days, dry_run=dry_run)
        finally:
            await pool.close()


def format_report(r, days: int) -> str:
    would = "would be " if r.dry_run else ""
    return "\n".join([
        f"pruning, retention {days} days unless a user's own" + (" (dry run: nothing was changed)" if r.dry_run else ""),
        f"namespaces:                  {r.namespaces}",
        f"old versions {would}pruned:     {r.versions_pruned} ({format_size(r.version_bytes)})",
        f"trash items {would}purged:      {r.items_purged} ({r.files_purged} files)",
        f"stored bytes {would}freed:      {format_size(r.bytes_freed)}" + (" (not counted in a dry run)" if r.dry_run else ""),
    ])  # fmt: skip


@click.command("retention")
@click.argument("name")
@click.argument("days")
@data_dir_option
@config_option
def user_retention(name: str, days: str, data_dir: Path) -> None:
    """Keep a user's deleted files and replaced versions DAYS days ('default': the server's --retention-days)."""
    from ..core.users import set_retention

    if days.lower() == "default":
        value = None
    else:
        try:
            value = int(days)
        except ValueError:
            raise click.BadParameter("a number of days (1 to 36500) or 'default'", param_hint="DAYS") from None
        if not 1 <= value <= 36500:
            raise click.BadParameter("a number of days (1 to 36500) or 'default'", param_hint="DAYS")

    async def go(conn):
        await set_retention(conn, name, value)

    db_command(data_dir, go)
    click.echo(f"retention of {name}: {'the server default' if value is None else f'{value} days'}")
