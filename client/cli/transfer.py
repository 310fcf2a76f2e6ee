"""``tessera put`` and ``tessera get``: one file up or down."""

from __future__ import annotations

import asyncio
import errno
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import click

from protocol import paths
from protocol.messages.uploads import UPLOAD_MODES

from . import output
from .context import CliContext, json_option, pass_cli, remote_path, resolve_into_folder, run_async

if TYPE_CHECKING:
    from client.transfer.download.file import DownloadResult
    from client.transfer.upload.file import UploadResult


@click.command()
@click.argument("local", type=click.Path(path_type=Path))
@click.argument("remote")
@click.option(
    "--mode",
    type=click.Choice(UPLOAD_MODES),
    default="overwrite",
    show_default=True,
    help="add: fail if a different file exists; update: fail unless the file is at --parent-rev.",
)
@click.option("--parent-rev", type=int, help="The revision this file was edited from (with --mode update).")
@json_option
@pass_cli
def put(obj: CliContext, local: Path, remote: str, mode: str, parent_rev: int | None) -> None:
    """Upload LOCAL to REMOTE (into it if REMOTE is a folder or ends with '/')."""
    if mode == "update" and parent_rev is None:
        raise click.UsageError("--mode update needs --parent-rev")

    async def go() -> UploadResult:
        if stat.S_ISDIR((await asyncio.to_thread(local.stat)).st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory (folders are not uploaded)", str(local))
        async with obj.authed_client() as client, obj.upload_journal() as journal:
            dest = await resolve_into_folder(client, remote, local.name)
            with obj.progress(local.name) as progress:
                return await client.upload_file(
                    local, dest, mode=mode, parent_rev=parent_rev, progress=progress, resume=journal
                )

    result = run_async(go())
    meta = result.metadata
    resumed = ", resumed" if result.resumed else ""
    obj.emit(
        result.to_json(),
        f"Uploaded {local} to {meta.path} ({output.human_size(meta.size)}, rev {meta.rev}; "
        f"sent {result.blocks_sent} of {result.blocks_total} blocks{resumed})",
    )


@click.command()
@click.argument("remote")
@click.argument("local", type=click.Path(path_type=Path), required=False)
@click.option("--rev", type=int, help="Download this revision instead of the current one.")
@json_option
@pass_cli
def get(obj: CliContext, remote: str, local: Path | None, rev: int | None) -> None:
    """Download REMOTE to LOCAL (into it if LOCAL is a folder; default: the current folder)."""
    src = remote_path(remote)
    if src == paths.ROOT:
        raise click.UsageError("the root folder is not a file")
    target = local if local is not None else Path(".")
    if target.is_dir():
        target = target / paths.basename(src)

    async def go() -> DownloadResult:
        async with obj.authed_client() as client:
            with obj.progress(paths.basename(src)) as progress:
                return await client.download_file(src, target, rev=rev, progress=progress)

    result = run_async(go())
    obj.emit(
        result.to_json(),
        f"Downloaded {result.path} (rev {result.rev}, {output.human_size(result.size)}) to {target}",
    )
