"""The TOML configuration file of ``tessera-server`` (``--config FILE`` or ``TESSERA_CONFIG``).

Every flag of every ``tessera-server`` command can be set in it, under the flag's name without
the dashes in front (``meta-port = 8080``, ``block-url = ["https://..."]``,
``s3-checksum-sha256 = false``); a table prefixes its keys (``[s3]`` ``bucket = "b"`` is
``s3-bucket``). Settings that have no flag because they are secrets or a DSN can be set here
too: ``database-url`` (``DATABASE_URL``), ``grant-secret`` (``TESSERA_GRANT_SECRET``),
``s3-access-key`` and ``s3-secret-key`` (``TESSERA_S3_ACCESS_KEY``/``_SECRET_KEY``).

Precedence: a flag, then its environment variable, then the file, then the default (the file
fills click's ``default_map``, which click consults after the command line and the
environment). A key no command knows is an error naming it; each command takes the keys it
has and ignores the others, so one file serves ``meta``, ``block``, ``gc`` and ``backup``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import click

#: settings without a flag: config key -> environment variable
UNFLAGGED = {
    "database-url": "DATABASE_URL",
    "grant-secret": "TESSERA_GRANT_SECRET",
    "s3-access-key": "TESSERA_S3_ACCESS_KEY",
    "s3-secret-key": "TESSERA_S3_SECRET_KEY",
}
#: what `config check` never prints in full
SECRETS = frozenset({"grant-secret", "s3-secret-key", "s3-access-key"})
_META_KEY = "tessera.config_file"


class ConfigFile:
    """The settings of one TOML file, flattened to ``flag-name -> value``."""

    def __init__(self, path: Path, values: dict[str, Any]) -> None:
        self.path = path
        self.values = values

    @classmethod
    def read(cls, path: Path) -> ConfigFile:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as e:
            raise click.BadParameter(f"cannot read {path}: {e.strerror}", param_hint="--config") from None
        except tomllib.TOMLDecodeError as e:
            raise click.BadParameter(f"{path} is not valid TOML: {e}", param_hint="--config") from None
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                for sub, v in value.items():
                    values[f"{key}-{sub}".replace("_", "-")] = v
            else:
                values[key.replace("_", "-")] = value
        return cls(path, values)

    def check_keys(self, known: set[str]) -> None:
        unknown = sorted(set(self.values) - known - set(UNFLAGGED))
        if unknown:
            raise click.BadParameter(
                f"{self.path}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                param_hint="--config",
            )

    def defaults_for(self, command: click.Command) -> dict[str, Any]:
        """click's ``default_map`` for ``command``: the file's values of the options it has."""
        by_flag = flag_names(command)
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            param = by_flag.get(key)
            if param is not None and param.name is not None:
                out[param.name] = value
        return out


def flag_names(command: click.Command) -> dict[str, click.Parameter]:
    """``flag-name -> option`` of every option of ``command`` (``--no-x`` names too)."""
    out: dict[str, click.Parameter] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in (*param.opts, *param.secondary_opts):
                if opt.startswith("--") and not opt.startswith("--no-"):
                    out[opt[2:]] = param
    out.pop("config", None)
    out.pop("help", None)
    return out


def all_flag_names(root: click.Group) -> set[str]:
    """Every flag name of every command under ``root``."""
    names: set[str] = set()
    stack: list[click.Command] = [root]
    while stack:
        command = stack.pop()
        names |= set(flag_names(command))
        if isinstance(command, click.Group):
            stack.extend(command.commands.values())
    return names


def _load(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is None:
        return
    config = ConfigFile.read(value)
    config.check_keys(all_flag_names(ctx.find_root().command))  # type: ignore[arg-type]
    ctx.default_map = {**(ctx.default_map or {}), **config.defaults_for(ctx.command)}
    ctx.meta[_META_KEY] = config


config_option = click.option(
    "--config",
    envvar="TESSERA_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    is_eager=True,
    expose_value=False,
    callback=_load,
    help="A TOML file with settings (flag names as keys); flags and TESSERA_* variables win over it.",
)


def current() -> ConfigFile | None:
    """The configuration file of the command being run, if it was given one."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_META_KEY) if ctx is not None else None


def unflagged(key: str) -> str | None:
    """A setting without a flag (see :data:`UNFLAGGED`): its environment variable, else the file's value."""
    value = os.environ.get(UNFLAGGED[key])
    if value:
        return value
    config = current()
    if config is not None and config.values.get(key) not in (None, ""):
        return str(config.values[key])
    return None


def unflagged_source(key: str) -> str:
    if os.environ.get(UNFLAGGED[key]):
        return f"env {UNFLAGGED[key]}"
    config = current()
    return "file" if config is not None and config.values.get(key) not in (None, "") else "unset"


def mask(key: str, value: Any) -> str:
    """``value`` as `config check` shows it: secrets hidden, a DSN's password hidden."""
    if value is None or value == "":
        return "-"
    text = str(value)
    if key in SECRETS:
        return f"**** ({len(text)} characters)"
    if key == "database-url":
        from yarl import URL

        try:
            url = URL(text)
        except ValueError:
            return "**** (not a URL)"
        return str(url.with_password("****")) if url.password else text
    return text
