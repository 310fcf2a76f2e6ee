"""The ``tessera`` command line.

The root group builds a :class:`CliContext` from flags and the environment;
each subcommand is a thin wrapper that runs one coroutine of the client
library. :func:`main` is the one dispatcher that turns every failure into a
single ``tessera: error: <message> (<code>)`` line on stderr and an exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import stat
import sys
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from protocol import paths
from protocol.errors import NotAFolder, NotFound, TesseraError, Unauthorized

from . import cli_format
from .credentials import Credentials, CredentialStore, config_dir
from .errors import NotLoggedIn

if TYPE_CHECKING:
    from .api import TesseraClient
    from .models import Account, Metadata
    from .progress import Progress
    from .transfer_download import DownloadResult
    from .transfer_upload import UploadResult
    from .upload_journal import UploadJournal

T = TypeVar("T")

PROG = "tessera"


# -- context ------------------------------------------------------------------------------------


@dataclass
class CliContext:
    """Everything a subcommand needs, built once by the root group."""

    config_dir: Path
    server_override: str | None = None
    json_output: bool = False
    show_progress: bool = False
    #: retries of a transient failure (None: the library's default policy)
    retries: int | None = None
    _store: CredentialStore | None = field(default=None, repr=False)

    @property
    def store(self) -> CredentialStore:
        if self._store is None:
            self._store = CredentialStore(self.config_dir)
        return self._store

    def credentials(self) -> Credentials:
        return self.store.require()

    def server_for(self, creds: Credentials) -> str:
        return self.server_override or creds.server

    def client(self, server: str, token: str | None) -> TesseraClient:
        from dataclasses import replace

        from .api import TesseraClient
        from .retry import DEFAULT_RETRY

        policy = DEFAULT_RETRY if self.retries is None else replace(DEFAULT_RETRY, attempts=self.retries + 1)
        return TesseraClient(server, token, retry=policy)

    def authed_client(self) -> TesseraClient:
        creds = self.credentials()
        return self.client(self.server_for(creds), creds.token)

    def upload_journal(self) -> UploadJournal:
        """The journal of interrupted uploads, in the config folder."""
        from .upload_journal import UploadJournal

        return UploadJournal.in_config_dir(self.config_dir)

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[Progress]:
        from .progress import NullProgress, RichProgress

        if not self.show_progress:
            yield NullProgress()
            return
        with RichProgress(label, sys.stderr) as bars:
            yield bars

    def emit(self, doc: Any, human: str | None) -> None:
        """Print the command's result: one JSON document with --json, else the human text."""
        if self.json_output:
            click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        elif human:
            click.echo(human)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion, on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def remote_path(arg: str) -> str:
    """A remote path from the command line: leading '/' optional, trailing '/' ignored."""
    if not arg.startswith("/"):
        arg = "/" + arg
    if arg != "/":
        arg = arg.rstrip("/") or "/"
    return paths.normalize(arg)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliContext).json_output = True


json_option = click.option(
    "--json",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_json,
    help="Print the result as one JSON document.",
)
pass_cli = click.make_pass_decorator(CliContext)


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
@click.option("-v", "--verbose", count=True, help="Log retries and other details to stderr.")
@click.version_option(package_name="tessera-sync", prog_name=PROG)
@click.pass_context
def cli(
    ctx: click.Context, server: str | None, config_dir: Path | None, retries: int | None, verbose: int
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
    obj.show_progress = sys.stderr.isatty()


def _default_config_dir() -> Path:
    return config_dir(os.environ)


# -- auth ---------------------------------------------------------------------------------------


@cli.command()
@click.option("--server", "login_server", metavar="URL", help="Server URL [env: TESSERA_SERVER].")
@click.option("--user", required=True, help="User name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--device", metavar="NAME", help="Name of this device [default: the host name].")
@json_option
@pass_cli
def login(
    obj: CliContext, login_server: str | None, user: str, password_stdin: bool, device: str | None
) -> None:
    """Log in and save a device token."""
    from .http import check_server_url

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

    async def go() -> Credentials:
        async with obj.client(server, None) as client:
            result = await client.login(user, password, device)
            if previous is not None and previous.server == server and previous.token != result.token:
                client_old = obj.client(server, previous.token)
                async with client_old:  # best effort: do not leave the replaced token valid
                    with contextlib.suppress(TesseraError):
                        await client_old.logout()
        return Credentials(server=server, user=result.user, device=result.device, token=result.token)

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
    """Show the logged-in user, device and storage use."""
    creds = obj.credentials()
    server = obj.server_for(creds)

    async def go() -> Account:
        async with obj.client(server, creds.token) as client:
            return await client.account()

    acct = run_async(go())
    obj.emit({**acct.to_json(), "server": server}, cli_format.account(acct, server))


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
    obj.emit({"path": path, "entries": [e.to_json() for e in entries]}, cli_format.listing(entries, long))


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
    obj.emit(entry.to_json(), cli_format.info(entry))


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
@json_option
@pass_cli
def rm(obj: CliContext, path: str) -> None:
    """Delete a file, or a folder with everything in it."""
    path = remote_path(path)
    if path == paths.ROOT:
        raise click.UsageError("refusing to delete the root folder")

    async def go() -> Metadata:
        async with obj.authed_client() as client:
            return await client.delete(path)

    entry = run_async(go())
    obj.emit(entry.to_json(), f"Deleted {entry.path}")


async def _resolve_into_folder(client: TesseraClient, raw: str, name: str, same_as: str | None = None) -> str:
    """``raw`` as a destination: inside it if it ends with '/' or is an existing folder."""
    dest = remote_path(raw)
    if raw.endswith("/") or dest == paths.ROOT:
        return remote_path(paths.join(dest, name))
    if same_as is not None and paths.path_key(dest) == paths.path_key(same_as):
        return dest  # a case-only rename, not a move into itself
    try:
        existing = await client.meta(dest)
    except NotFound:
        return dest
    return remote_path(paths.join(dest, name)) if existing.is_folder else dest


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
            dest = await _resolve_into_folder(client, to_path, paths.basename(src), same_as=src)
            return await client.move(src, dest)

    entry = run_async(go())
    obj.emit(entry.to_json(), f"Moved {src} to {entry.path}")


@cli.command()
@click.argument("local", type=click.Path(path_type=Path))
@click.argument("remote")
@click.option(
    "--mode",
    type=click.Choice(["overwrite", "add", "update"]),
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
            dest = await _resolve_into_folder(client, remote, local.name)
            with obj.progress(local.name) as progress:
                return await client.upload_file(
                    local, dest, mode=mode, parent_rev=parent_rev, progress=progress, resume=journal
                )

    result = run_async(go())
    meta = result.metadata
    resumed = ", resumed" if result.resumed else ""
    obj.emit(
        result.to_json(),
        f"Uploaded {local} to {meta.path} ({cli_format.human_size(meta.size)}, rev {meta.rev}; "
        f"sent {result.blocks_sent} of {result.blocks_total} blocks{resumed})",
    )


@cli.command()
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
        f"Downloaded {result.path} (rev {result.rev}, {cli_format.human_size(result.size)}) to {target}",
    )


from .cli_sync import status, sync  # noqa: E402 (the sync daemon's commands)

cli.add_command(sync)
cli.add_command(status)


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
