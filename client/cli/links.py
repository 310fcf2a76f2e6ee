"""``tessera link``: share links to a file or folder (create, ls, revoke)."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

import click

from .context import CliContext, json_option, pass_cli, remote_path, run_async
from .output import local_time

if TYPE_CHECKING:
    from protocol.messages.links import Link, NewLink

_LIFETIME = re.compile(r"(\d+)\s*([mhdw]?)", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Lifetime(click.ParamType):
    """A link's life: seconds, or a number of minutes, hours, days or weeks (``30m``, ``7d``, ``2w``)."""

    name = "lifetime"

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        m = _LIFETIME.fullmatch(str(value).strip())
        if m is None or int(m.group(1)) == 0:
            self.fail(f"{value!r} is not a lifetime (try 30m, 24h, 7d, 2w)", param, ctx)
        return int(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]


@click.group()
def link() -> None:
    """Share links: anyone with the URL can open the file or folder in a browser."""


@link.command("create")
@click.argument("path")
@click.option("--expires", type=Lifetime(), envvar="TESSERA_LINK_EXPIRES", metavar="TIME",
              help="The link stops working after TIME (30m, 24h, 7d, 2w); default: never.")  # fmt: skip
@click.option("--password-stdin", is_flag=True, help="Read a password for the link from the first line of stdin.")
@click.option("--view-only", is_flag=True, help="Visitors see the listing and previews but cannot download.")
@json_option
@pass_cli
def create(obj: CliContext, path: str, expires: int | None, password_stdin: bool, view_only: bool) -> None:
    """Make a link to PATH (a file or a folder) and print its URL."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin: the first line of stdin is empty")
    target = remote_path(path)

    async def go() -> NewLink:
        async with obj.authed_client() as client:
            return await client.create_link(target, expires_in=expires, password=password, view_only=view_only)

    made = run_async(go())
    obj.emit(made.to_wire(), made.url)  # type: ignore[attr-defined]


def _table(links: list[Link]) -> str:
    def flags(x: Link) -> str:
        return ",".join(f for f, on in (("password", x.password), ("view-only", x.view_only)) if on) or "-"

    rows = [("ID", "STATE", "EXPIRES", "FLAGS", "PATH")] + [
        (str(x.id), x.state, local_time(x.expires) if x.expires else "never", flags(x), x.path) for x in links
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(f"{r[i]:<{widths[i]}}" for i in range(4)) + "  " + r[4] for r in rows)


@link.command("ls")
@json_option
@pass_cli
def ls(obj: CliContext) -> None:
    """List your links (the URLs are shown only when a link is made)."""

    async def go() -> list[Link]:
        async with obj.authed_client() as client:
            return await client.links()

    found = run_async(go())
    obj.emit({"links": [x.to_json() for x in found]}, _table(found) if found else "No links.")


@link.command("revoke")
@click.argument("link_id", metavar="ID", type=click.IntRange(min=1))
@json_option
@pass_cli
def revoke(obj: CliContext, link_id: int) -> None:
    """Turn link ID off at once (its URL answers that the link is gone)."""

    async def go() -> Link:
        async with obj.authed_client() as client:
            return await client.revoke_link(link_id)

    gone = run_async(go())
    obj.emit({"link": gone.to_json()}, f"Revoked link {gone.id} to {gone.path}.")
