"""Saved login: server URL, user, device and token in ``credentials.json`` (mode 0600).

The folder is ``$TESSERA_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/tessera``, else
``~/.config/tessera``; the entry point resolves it (:func:`config_dir`) and
passes it in. Writes are atomic: a temp file in the same folder, fsync, rename.
Blocking file I/O: call from a thread inside an event loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from client.api.errors import NotLoggedIn
from protocol.fs.atomic import fsync_dir, write_atomic

FILENAME = "credentials.json"
_VERSION = 1


@dataclass(frozen=True, slots=True)
class Credentials:
    server: str
    user: str
    device: str
    token: str
    #: the PEM bundle the server's certificate is checked against (None: the system's CAs)
    ca_file: str | None = None


def config_dir(environ: Mapping[str, str]) -> Path:
    """Where the CLI keeps its files, from the environment given."""
    explicit = environ.get("TESSERA_CONFIG_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_CONFIG_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "tessera"
    return Path.home() / ".config" / "tessera"


class CredentialStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILENAME

    def load(self) -> Credentials | None:
        """The saved credentials, or None if there are none."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            obj = json.loads(raw)
            if obj.get("version") != _VERSION:
                raise ValueError(f"unknown version {obj.get('version')!r}")
            creds = Credentials(obj["server"], obj["user"], obj["device"], obj["token"], obj.get("ca_file"))
            if not all(isinstance(v, str) and v for k, v in asdict(creds).items() if k != "ca_file"):
                raise ValueError("empty or non-string field")
            if creds.ca_file is not None and not isinstance(creds.ca_file, str):
                raise ValueError("ca_file is not a string")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise NotLoggedIn(f"{self.path} is not valid ({e}); run `tessera login` again") from None
        return creds

    def require(self) -> Credentials:
        creds = self.load()
        if creds is None:
            raise NotLoggedIn()
        return creds

    def save(self, creds: Credentials) -> None:
        """Write atomically with mode 0600 (the folder is created 0700)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps({"version": _VERSION, **asdict(creds)}, indent=2).encode("utf-8") + b"\n"
        write_atomic(self.path, data)

    def delete(self) -> bool:
        """Forget the saved credentials; False if there were none."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(self.directory)
        return True
