"""``tessera trash ls|restore|purge`` and ``tessera usage``: what was deleted, and what it all takes."""

from __future__ import annotations

import sys

import click

from protocol import paths
from protocol.messages.auth import Account
from protocol.messages.files import Metadata
from protocol.messages.lifecycle import PurgeResult, TrashEntry, UsageReport

from . import output
from .context import CliContext, json_option, pass_cli, remote_path, run_async

trash_id_option = click.option(
    "--id", "trash_id", type=click.IntRange(min=1),
    help="The entry of that path to take, as `tessera trash ls --json` lists it (default: the latest deleted).",
)  # fmt: skip


@click.group()
def trash() -> None:
    """What was deleted: list it, bring it back, or delete it for good."""


@trash.command("ls")
@click.argument("path", default="/")
@json_option
@pass_cli
def trash_ls(obj: CliContext, path: str) -> None:
    """List what was deleted at or below PATH, newest first: when, from which device, its size.

    Listing a deleted folder also lists what was deleted with it, inside it.
    """
    path = remote_path(path)

    async def go() -> list[TrashEntry]:
        async with obj.authed_client() as client:
            return [e async for e in client.trash.entries(path)]

    found = run_async(go())
    obj.emit({"path": path, "entries": [e.to_wire() for e in found]}, output.trash_listing(path, found))


@trash.command("restore")
@click.argument("path")
@trash_id_option
@json_option
@pass_cli
def trash_restore(obj: CliContext, path: str, trash_id: int | None) -> None:
    """Bring back a deleted file, or a folder as it was when it was deleted.

    If something else is at PATH now, it comes back beside it, as `NAME (deleted DATE)`. Every
    synced device gets it back like any other change.
    """
    path = remote_path(path)

    async def go() -> Metadata:
        async with obj.authed_client() as client:
            return await client.trash.restore(path, trash_id)

    entry = run_async(go())
    beside = "" if paths.path_key(entry.path) == paths.path_key(path) else f" to {entry.path} (something is at {path})"
    what = "folder " if entry.is_folder else ""
    obj.emit(entry.to_json(), f"Restored {what}{path}{beside}")


@trash.command("purge")
@click.argument("path", required=False)
@click.option("--all", "everything", is_flag=True, help="Empty the whole trash.")
@trash_id_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@json_option
@pass_cli
def trash_purge(obj: CliContext, path: str | None, everything: bool, trash_id: int | None, yes: bool) -> None:
    """Delete for good what is in the trash at or below PATH (or all of it, with --all).

    Every version of those files goes; the space comes back to your quota at once. Asks first on
    a terminal; elsewhere --yes is required.
    """
    if everything == (path is not None):
        raise click.UsageError("give a PATH or --all (not both)")
    if everything and trash_id is not None:
        raise click.UsageError("--id goes with a PATH")
    what = "everything in the trash" if everything else f"{remote_path(path)} and everything below it in the trash"
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not on a terminal: add --yes to purge without being asked")
        if not click.confirm(f"Delete {what} for good? This cannot be undone", err=True):
            click.echo("Nothing was purged.", err=True)
            raise click.exceptions.Exit(1)

    async def go() -> PurgeResult:
        async with obj.authed_client() as client:
            if everything:
                return await client.trash.purge(everything=True)
            return await client.trash.purge(remote_path(path), trash_id=trash_id)

    done = run_async(go())
    obj.emit(
        done.to_wire(),
        f"Purged {done.files} file{'s' if done.files != 1 else ''}; {output.human_size(done.freed_bytes)} freed",
    )


@click.command()
@json_option
@pass_cli
def usage(obj: CliContext) -> None:
    """Show what your files take: current files, older versions, the trash, and your quota."""
    creds = obj.credentials()
    server = obj.server_for(creds)

    async def go() -> tuple[Account, UsageReport]:
        async with obj.client(server, creds.token) as client:
            return await client.account(), await client.usage()

    acct, report = run_async(go())
    obj.emit({"user": acct.user, "server": server, **report.to_wire()}, output.usage(report, acct.user, server))
