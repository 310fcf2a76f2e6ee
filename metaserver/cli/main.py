"""``tessera-server``: the operator's command (serving; administration is in :mod:`.admin`)."""

from __future__ import annotations

import sys

import click

from ..core.settings import ServerSettings
from .admin import gc_command, migrate, user
from .backup import backup, restore
from .config_cmd import config_group
from .options import exit_on_error, run_async, server_options, setup_logging
from .settings import build_settings


def _announce(urls: dict[str, str], settings: ServerSettings) -> None:
    lines = []
    if "meta" in urls:
        lines.append(f"metadata server: {urls['meta']}")
    if "notify" in urls:
        lines.append(f"notify endpoint: {urls['notify']}  (long-polls)")
    if "block" in urls:
        where = f"s3 bucket {settings.extra['s3_bucket']}" if settings.extra.get("s3_bucket") else str(settings.blocks_dir)
        lines.append(f"block server:    {urls['block']}  (blocks in {where})")
    if "meta" in urls:
        lines += [
            "",
            "Connect a client:",
            f"  tessera-server user add NAME --data-dir {settings.data_dir}   # once, to create a user",
            f"  tessera login --server {urls['meta']} --user NAME",
            f"Or open the web app: {settings.public_url or urls['meta']}/",
            "Stop with Ctrl-C.",
        ]
    click.echo("\n".join(lines), err=False)
    sys.stdout.flush()


def _serve(command: str, meta: bool, block: bool, data_dir, log_level, log_format, **kw) -> None:
    setup_logging(log_level, log_format)
    settings = build_settings(command, data_dir, **kw)
    with exit_on_error():
        run_async(_run(settings, meta, block))


async def _run(settings: ServerSettings, meta: bool, block: bool) -> None:
    from .runner import run_servers

    await run_servers(settings, meta=meta, block=block, announce=_announce)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run and administer a Tessera server."""


@main.command()
@server_options
def run(**kw) -> None:
    """Start PostgreSQL (embedded unless DATABASE_URL is set), migrate, and run both servers."""
    _serve("run", True, True, **kw)


@main.command()
@server_options
def meta(**kw) -> None:
    """Run one metadata server (scale out: run any number behind a load balancer)."""
    _serve("meta", True, False, **kw)


@main.command()
@server_options
def block(**kw) -> None:
    """Run one block server (scale out: run any number; list them with --block-url)."""
    _serve("block", False, True, **kw)


main.add_command(migrate)
main.add_command(user)
main.add_command(gc_command)
main.add_command(config_group)
main.add_command(backup)
main.add_command(restore)
