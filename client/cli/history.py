"""``tessera history`` and ``tessera restore``: a file's versions, and bringing one back.

History follows the file across moves, renames and the trash; each version has a number in
the file's history (1 = the first), which ``restore`` takes. The history of a folder lists
what was deleted in it (as ``tessera trash ls`` does).
"""

from __future__ import annotations

import click

from protocol import paths
from protocol.errors import IsAFolder
from protocol.messages.files import Metadata, Revisions
from protocol.messages.lifecycle import TrashEntry

from . import output
from .context import CliContext, json_option, pass_cli, remote_path, run_async


@click.command()
@click.argument("path")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="List at most this many versions (the newest).")  # fmt: skip
@json_option
@pass_cli
def history(obj: CliContext, path: str, limit: int) -> None:
    """List the versions of a file, newest first (also of a moved or deleted file); of a folder,
    list what was deleted in it."""
    path = remote_path(path)

    async def go() -> Revisions | list[TrashEntry]:
        async with obj.authed_client() as client:
            try:
                return await client.revisions(path, limit)
            except IsAFolder:
                return [e async for e in client.trash.entries(path)]

    found = run_async(go())
    if isinstance(found, Revisions):
        obj.emit(found.to_json(), output.revisions(found, path))
    else:
        obj.emit(
            {"path": path, "kind": "folder", "deleted": [e.to_wire() for e in found]},
            output.deleted_in(path, found),
        )


@click.command()
@click.argument("path")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--rev", "by_rev", is_flag=True,
              help="VERSION is a revision id (`tessera info`, `--json`), not a number from the history.")  # fmt: skip
@json_option
@pass_cli
def restore(obj: CliContext, path: str, version: int, by_rev: bool) -> None:
    """Make VERSION of a file (its number in `tessera history`) its current content again.

    The restore is a new version on top of the current one, so nothing is lost: the version it
    replaces stays in the history. A file in the trash comes back first, with its folders (beside
    a file that took its name since, if one did).
    """
    path = remote_path(path)
    if path == paths.ROOT:
        raise click.UsageError("the root folder has no versions")

    async def go() -> tuple[Revisions, Metadata]:
        async with obj.authed_client() as client:
            before = await client.revisions(path, limit=1)
            if by_rev:
                return before, await client.restore(path, version)
            return before, await client.restore(path, version=version)

    before, entry = run_async(go())
    which = f"rev {version}" if by_rev else f"version {version}"
    latest = before.revisions[0] if before.revisions else None
    if latest is not None and entry.rev == latest.rev:
        note = " from the trash" if before.deleted else " (it already was)"
        text = f"Restored {entry.path} to {which}{note} ({output.human_size(entry.size)})"
    else:
        new = latest.version + 1 if latest is not None else "?"
        back = " from the trash" if before.deleted else ""
        text = f"Restored {entry.path} to {which}{back} as version {new} ({output.human_size(entry.size)})"
    obj.emit(entry.to_json(), text)
