"""The ``tessera`` command line.

The root group builds a :class:`CliContext` (:mod:`client.cli.context`) from
flags and the environment; each subcommand is a thin wrapper that runs one
coroutine of the client library. The account and remote-tree commands are
here; ``put``/``get`` are in :mod:`client.cli.transfer`, ``sync``/``status`` in
:mod:`client.cli.sync`. :func:`main` is the one dispatcher that turns every failure into a
single ``tessera: error: <message> (<code>)`` line on stderr and an exit code.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from client.api.errors import NotLoggedIn
from protocol import paths
from protocol.errors import NotAFolder, TesseraError, Unauthorized

from . import output
from .context import CliContext, json_option, pass_cli, remote_path, resolve_into_folder, run_async
from .credentials import Credentials, config_dir

if TYPE_CHECKING:
    from protocol.messages.auth import Account
    from protocol.messages.files import Metadata

PROG = "tessera"


# -- root -------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--server", envvar="TESSERA_SERVER", metavar="URL", help="Server URL (overrides the saved one)."
)
@click.option(
    "--config-dir",
    envvar="TESSERA_CONFIG_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where credentials and the upload journal are kept "
    "[default: $XDG_CONFIG_HOME/tessera or ~/.config/tessera].",
)
@click.option(
    "--retries",
    envvar="TESSERA_RETRIES",
    type=click.IntRange(0, 100),
    help="Retries of a transient failure (connection, 5xx, 429) [default: 5].",
)
@click.option(
    "--notify-host",
    "notify_hosts",
    multiple=True,
    envvar="TESSERA_NOTIFY_HOSTS",
    metavar="HOST",
    help="A host other than the server's that may hold this device's long-polls, when the server "
    "names it as its notify endpoint (repeatable; the token is never sent to any other host).",
)
@click.option(
    "--ca-file",
    envvar="TESSERA_CA_FILE",
    type=click.Path(dir_okay=False, exists=True),
    help="Check the server's certificate against this PEM bundle (a private CA) [default: the saved one, "
    "else the system's CAs].",
)
@click.option("-v", "--verbose", count=True, help="Log retries and other details to stderr.")
@click.version_option(package_name="tessera-sync", prog_name=PROG)
@click.pass_context
def cli(
    ctx: click.Context,
    server: str | None,
    config_dir: Path | None,
    retries: int | None,
    notify_hosts: tuple[str, ...],
    ca_file: str | None,
    verbose: int,
) -> None:
    """Tessera: your files on your own server."""
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format=f"{PROG}: %(message)s",
        stream=sys.stderr,
    )
    obj = ctx.ensure_object(CliContext)
    obj.config_dir = config_dir or _default_config_dir()
    obj.server_override = server or None
    obj.retries = retries
    obj.notify_hosts = notify_hosts
    obj.ca_file = str(Path(ca_file).resolve()) if ca_file else None
    obj.show_progress = sys.stderr.isatty()


def _default_config_dir() -> Path:
    return config_dir(os.environ)


# -- auth ---------------------------------------------------------------------------------------


@cli.command()
@click.option("--server", "login_server", metavar="URL", help="Server URL [env: TESSERA_SERVER].")
@click.option("--user", required=True, help="User name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--device", metavar="NAME", help="Name of this device [default: the host name].")
@click.option(
    "--ca-file",
    "login_ca_file",
    type=click.Path(dir_okay=False, exists=True),
    help="Check the server's certificate against this PEM bundle, now and later (it is saved).",
)
@json_option
@pass_cli
def login(
    obj: CliContext,
    login_server: str | None,
    user: str,
    password_stdin: bool,
    device: str | None,
    login_ca_file: str | None,
) -> None:
    """Log in and save a device token."""
    if login_ca_file:
        obj.ca_file = str(Path(login_ca_file).resolve())
    from client.api.transport import check_server_url

    server = login_server or obj.server_override
    if not server:
        raise click.UsageError("--server URL is required (or set TESSERA_SERVER)")
    server = check_server_url(server)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin: no password on standard input")
    else:
        password = click.prompt("Password", hide_input=True, err=True)
    device = device or socket.gethostname() or "unknown-device"
    try:
        previous = obj.store.load()
    except NotLoggedIn:
        previous = None  # unreadable credentials: the new login replaces them

    ca_file = obj.ca_file_for(server)

    async def go() -> Credentials:
        async with obj.client(server, None) as client:
            result = await client.login(user, password, device)
            if previous is not None and previous.server == server and previous.token != result.token:
                client_old = obj.client(server, previous.token)
                async with client_old:  # best effort: do not leave the replaced token valid
                    with contextlib.suppress(TesseraError):
                        await client_old.logout()
        return Credentials(
            server=server, user=result.user, device=result.device, token=result.token, ca_file=ca_file
        )

    creds = run_async(go())
    obj.store.save(creds)
    obj.emit(
        {"server": creds.server, "user": creds.user, "device": creds.device},
        f"Logged in to {creds.server} as {creds.user} (device {creds.device}).",
    )


@cli.command()
@json_option
@pass_cli
def logout(obj: CliContext) -> None:
    """Revoke this device's token and forget it."""
    try:
        creds = obj.store.load()
    except NotLoggedIn:
        obj.store.delete()  # unreadable: there is no token to revoke, only a file to remove
        creds = None
    if creds is None:
        obj.emit({"logged_out": False}, "Not logged in.")
        return
    server = obj.server_for(creds)

    async def go() -> None:
        async with obj.client(server, creds.token) as client:
            try:
                await client.logout()
            except Unauthorized:
                pass  # already revoked
            except TesseraError as err:
                raise type(err)(
                    f"{err.message} (credentials kept; run `tessera logout` again)", **err.details
                ) from err

    run_async(go())
    obj.store.delete()
    obj.emit(
        {"logged_out": True, "server": server, "user": creds.user},
        f"Logged out {creds.user} from {server}.",
    )


@cli.command()
@json_option
@pass_cli
def whoami(obj: CliContext) -> None:
    """Show the logged-in user, device and storage use (`tessera usage` has the details)."""
    creds = obj.credentials()
    server = obj.server_for(creds)

    async def go() -> Account:
        async with obj.client(server, creds.token) as client:
            return await client.account()

    acct = run_async(go())
    obj.emit({**acct.to_json(), "server": server}, output.account(acct, server))


# -- files ----------------------------------------------------------------------------------------


@cli.command("ls")
@click.argument("path", default="/")
@click.option("-l", "long", is_flag=True, help="Long listing: size, modified time, revision.")
@json_option
@pass_cli
def ls(obj: CliContext, path: str, long: bool) -> None:
    """List a folder (or show one file)."""
    path = remote_path(path)

    async def go() -> list[Metadata]:
        async with obj.authed_client() as client:
            try:
                return [entry async for entry in client.list_entries(path)]
            except NotAFolder:
                return [await client.meta(path)]

    entries = run_async(go())
    obj.emit({"path": path, "entries": [e.to_json() for e in entries]}, output.listing(entries, long))


@cli.command()
@click.argument("path")
@json_option
@pass_cli
def info(obj: CliContext, path: str) -> None:
    """Show the metadata of a file or folder."""
    path = remote_path(path)

    async def go() -> Metadata:
        async with obj.authed_client() as client:
            return await client.meta(path)

    entry = run_async(go())
    obj.emit(entry.to_json(), output.info(entry))


@cli.command()
@click.argument("path")
@json_option
@pass_cli
def mkdir(obj: CliContext, path: str) -> None:
    """Create a folder (and its parents)."""
    path = remote_path(path)

    async def go() -> Metadata:
        async with obj.authed_client() as client:
            return await client.mkdir(path)

    entry = run_async(go())
    obj.emit(entry.to_json(), f"Created folder {entry.path}")


@cli.command()
@click.argument("path")
@click.option("--if-rev", type=click.IntRange(min=1), help="Only if the file is still at this revision.")
@json_option
@pass_cli
def rm(obj: CliContext, path: str, if_rev: int | None) -> None:
    """Delete a file, or a folder with everything in it."""
    path = remote_path(path)
    if path == paths.ROOT:
        raise click.UsageError("refusing to delete the root folder")

    async def go() -> Metadata:
        async with obj.authed_client() as client:
            return await client.delete(path, if_rev=if_rev)

    entry = run_async(go())
    obj.emit(entry.to_json(), f"Deleted {entry.path}")


@cli.command()
@click.argument("from_path", metavar="FROM")
@click.argument("to_path", metavar="TO")
@json_option
@pass_cli
def mv(obj: CliContext, from_path: str, to_path: str) -> None:
    """Move or rename; TO may be an existing folder (or end with '/') to move into it."""
    src = remote_path(from_path)
    if src == paths.ROOT:
        raise click.UsageError("cannot move the root folder")

    async def go() -> Metadata:
        async with obj.authed_client() as client:
            dest = await resolve_into_folder(client, to_path, paths.basename(src), same_as=src)
            return await client.move(src, dest)

    entry = run_async(go())
    obj.emit(entry.to_json(), f"Moved {src} to {entry.path}")


from .account import devices, passwd  # noqa: E402 (the account's devices and password)
from .copies import cp  # noqa: E402 (copies made on the server)
from .history import history, restore  # noqa: E402 (a file's revisions)
from .links import link  # noqa: E402 (share links)
from .search import search  # noqa: E402 (find by name)
from .share import share  # noqa: E402 (shared folders)
from .sync import status, sync  # noqa: E402 (the sync daemon's commands)
from .transfer import get, put  # noqa: E402 (one file up or down)
from .trash import trash, usage  # noqa: E402 (what was deleted, what it all takes)

for command in (cp, put, get, history, restore, trash, usage, search, sync, status, devices, passwd, link, share):
    cli.add_command(command)


# -- the dispatcher ---------------------------------------------------------------------------------


def _os_error_text(err: OSError) -> tuple[str, str]:
    code = errno.errorcode.get(err.errno, "os_error") if err.errno else "os_error"
    text = err.strerror or str(err)
    if err.filename is not None:
        text = f"{text}: {os.fsdecode(err.filename)}"
    return text, code


def _fail(obj: CliContext | None, message: str, code: str, exit_code: int) -> int:
    message = " ".join(message.split())
    if obj is not None and obj.json_output:
        click.echo(json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False, indent=2))
    click.echo(f"{PROG}: error: {message} ({code})", err=True)
    return exit_code


class _NeverRaised(click.UsageError):
    pass


#: click >= 8.2 raises this for a bare `tessera`; older versions print the help themselves
_NoArgsIsHelp: type[click.UsageError] = getattr(click.exceptions, "NoArgsIsHelpError", _NeverRaised)


def dispatch(argv: Sequence[str] | None = None) -> int:
    """Run the CLI once and return its exit code; never lets a traceback out."""
    obj = CliContext(config_dir=Path())
    try:
        rv = cli.main(
            args=list(argv) if argv is not None else None, prog_name=PROG, standalone_mode=False, obj=obj
        )
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except _NoArgsIsHelp as e:  # bare `tessera`: the help, as click shows it
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        return _fail(obj, "interrupted", "interrupted", 130)
    except click.ClickException as e:
        return _fail(obj, e.format_message(), "usage", e.exit_code)
    except TesseraError as e:
        return _fail(obj, e.message, e.code, e.exit_code)
    except BrokenPipeError:
        # stdout was closed early (`tessera ls | head`): nothing left to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:
        return _fail(obj, *_os_error_text(e), 1)
    except KeyboardInterrupt:
        return _fail(obj, "interrupted", "interrupted", 130)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(dispatch(argv))


if __name__ == "__main__":
    main()
