"""``tessera history`` and ``tessera restore``: a file's revisions, and bringing one back."""

from __future__ import annotations

import click

from protocol import paths
from protocol.messages.files import Metadata, Revisions

from . import output
from .context import CliContext, json_option, pass_cli, remote_path, run_async


@click.command()
@click.argument("path")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="List at most this many revisions (the newest).")  # fmt: skip
@json_option
@pass_cli
def history(obj: CliContext, path: str, limit: int) -> None:
    """List the revisions of a file, newest first (also of a deleted file)."""
    path = remote_path(path)

    async def go() -> Revisions:
        async with obj.authed_client() as client:
            return await client.revisions(path, limit)

    revs = run_async(go())
    obj.emit(revs.to_json(), output.revisions(revs))


@click.command()
@click.argument("path")
@click.argument("rev", type=click.IntRange(min=1))
@json_option
@pass_cli
def restore(obj: CliContext, path: str, rev: int) -> None:
    """Make revision REV of a file its current content again (also of a deleted file).

    The restore is a new revision on top of the current one, so nothing is lost:
    the revision it replaces stays in the history.
    """
    path = remote_path(path)
    if path == paths.ROOT:
        raise click.UsageError("the root folder has no revisions")

    async def go() -> Metadata:
        async with obj.authed_client() as client:
            return await client.restore(path, rev)

    entry = run_async(go())
    note = "" if entry.rev == rev else f" as rev {entry.rev}"
    obj.emit(entry.to_json(), f"Restored {entry.path} to rev {rev}{note} ({output.human_size(entry.size)})")
