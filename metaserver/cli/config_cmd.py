"""``tessera-server config check``: validate the configuration and print the effective settings."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from .config_file import UNFLAGGED, flag_names, mask, unflagged

_SOURCES = {
    ParameterSource.COMMANDLINE: "flag",
    ParameterSource.ENVIRONMENT: "env",
    ParameterSource.DEFAULT_MAP: "file",
    ParameterSource.DEFAULT: "default",
}


@click.group("config")
def config_group() -> None:
    """Check the configuration (file, environment) the servers would start with."""


@config_group.command("check", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--config",
    "path",
    envvar="TESSERA_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The TOML file to check [default: $TESSERA_CONFIG].",
)
@click.argument("flags", nargs=-1, type=click.UNPROCESSED)
def check(path: Path | None, flags: tuple[str, ...]) -> None:
    """Validate the settings `tessera-server run` (or meta, block) would start with.

    From the file, the environment and any FLAGS given after `--`; prints each setting with
    where it came from (flag, env, file, default), secrets masked. Exit status 2 and the bad
    setting's name if one is bad."""
    from .main import main, run

    args = [*flags] + (["--config", str(path)] if path is not None else [])
    with run.make_context("run", args, parent=click.Context(main, info_name="tessera-server")) as ctx:
        params = dict(ctx.params)
        _validate(params)
        _print(ctx, path)


def _validate(params: dict) -> None:
    from .settings import build_settings

    kw = {k: v for k, v in params.items() if k not in ("log_level", "log_format")}
    build_settings("run", kw.pop("data_dir"), prepare=False, **kw)


def _print(ctx: click.Context, path: Path | None) -> None:
    rows: list[tuple[str, str, str]] = []
    for name, param in sorted(flag_names(ctx.command).items()):
        value = ctx.params.get(param.name)  # type: ignore[arg-type]
        if isinstance(value, tuple):
            value = ", ".join(map(str, value)) or None
        source = _SOURCES.get(ctx.get_parameter_source(param.name), "default")  # type: ignore[arg-type]
        rows.append((name, mask(name, value), source))
    for key, env in UNFLAGGED.items():
        value = unflagged(key)
        source = "env" if _from_env(env) else ("file" if value else "default")
        shown = mask(key, value)
        if key == "database-url" and not value:
            shown = "embedded PostgreSQL under the data dir"
        if key == "grant-secret" and not value:
            shown = "generated once into DATA_DIR/grant-secret"
        rows.append((key, shown, source))
    width = max(len(r[0]) for r in rows)
    click.echo(f"config file: {path or '(none)'}")
    for name, shown, source in rows:
        click.echo(f"{name.ljust(width)}  {shown}  [{source}]")
    click.echo("configuration ok")
    sys.stdout.flush()


def _from_env(env: str) -> bool:
    import os

    return bool(os.environ.get(env))
