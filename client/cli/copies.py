"""``tessera cp``: a copy made on the server, of a file or a whole folder (a shared folder too),
into your folders or a share you can write; no byte is downloaded or uploaded again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from protocol import paths

from .context import CliContext, json_option, pass_cli, remote_path, resolve_into_folder, run_async

if TYPE_CHECKING:
    from protocol.messages.files import Metadata


@click.command()
@click.argument("from_path", metavar="FROM")
@click.argument("to_path", metavar="TO")
@json_option
@pass_cli
def cp(obj: CliContext, from_path: str, to_path: str) -> None:
    """Copy a file or folder on the server; TO may be an existing folder (or end with '/') to copy into it."""
    src = remote_path(from_path)
    if src == paths.ROOT:
        raise click.UsageError("cannot copy the root folder")

    async def go() -> Metadata:
        async with obj.authed_client() as client:
            dest = await resolve_into_folder(client, to_path, paths.basename(src))
            return await client.copy(src, dest)

    entry = run_async(go())
    obj.emit(entry.to_json(), f"Copied {src} to {entry.path}")
