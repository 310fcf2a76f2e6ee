"""What every ``tessera`` subcommand shares: the context object and the option helpers.

:class:`CliContext` is built once by the root group (:mod:`client.cli.main`) from its
flags and the environment; subcommands get it through :data:`pass_cli`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from client.api.errors import NotLoggedIn
from protocol import paths
from protocol.errors import NotFound

from .credentials import Credentials, CredentialStore

if TYPE_CHECKING:
    from client.transfer.client import TesseraClient
    from client.transfer.progress import Progress
    from client.transfer.upload.journal import UploadJournal

T = TypeVar("T")


@dataclass
class CliContext:
    """Everything a subcommand needs, built once by the root group."""

    config_dir: Path
    server_override: str | None = None
    json_output: bool = False
    show_progress: bool = False
    #: retries of a transient failure (None: the library's default policy)
    retries: int | None = None
    #: hosts besides the server's that may hold long-polls (--notify-host)
    notify_hosts: tuple[str, ...] = ()
    #: ``--ca-file``: the PEM bundle server certificates are checked against (overrides the saved one)
    ca_file: str | None = None
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

        from client.api.retry import DEFAULT_RETRY
        from client.transfer.client import TesseraClient

        policy = DEFAULT_RETRY if self.retries is None else replace(DEFAULT_RETRY, attempts=self.retries + 1)
        return TesseraClient(
            server, token, retry=policy, notify_hosts=self.notify_hosts, ca_file=self.ca_file_for(server)
        )

    def ca_file_for(self, server: str) -> str | None:
        """``--ca-file`` if given, else the one saved with the login to ``server``."""
        if self.ca_file:
            return self.ca_file
        try:
            saved = self.store.load()
        except NotLoggedIn:
            return None
        return saved.ca_file if saved is not None and saved.server == server else None

    def authed_client(self) -> TesseraClient:
        creds = self.credentials()
        return self.client(self.server_for(creds), creds.token)

    def upload_journal(self) -> UploadJournal:
        """The journal of interrupted uploads, in the config folder."""
        from client.transfer.upload.journal import UploadJournal

        return UploadJournal.in_config_dir(self.config_dir)

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[Progress]:
        from client.transfer.progress import NullProgress, RichProgress

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


async def resolve_into_folder(client: TesseraClient, raw: str, name: str, same_as: str | None = None) -> str:
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
