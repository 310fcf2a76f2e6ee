"""``tessera-server backup DIR`` and ``tessera-server restore DIR``.

**Backup.** One read-only REPEATABLE READ transaction exports its snapshot; ``pg_dump
--snapshot`` dumps exactly that snapshot (custom format, ``DIR/database.dump``), and the block
list is read in the same snapshot, so the blocks saved are exactly those the dump lists as
stored (:mod:`.backup_blocks`: copies for a local-disk store, a manifest for S3). Blocks are
immutable and only deleted by the garbage collector after they were unreferenced for its grace
period, so none the dump references can vanish while they are copied. ``DIR/backup.json`` is
written last: a directory without it is an unfinished backup. Servers keep running meanwhile.

**Restore.** Into an empty database (a fresh data dir for the embedded PostgreSQL, or an empty
``DATABASE_URL``): ``pg_restore`` in one transaction, the migrations newer than the dump, then
the blocks into the configured store, each verified against its hashes.

``pg_dump``/``pg_restore`` come from ``--pg-bin`` (``TESSERA_PG_BIN``), else the embedded
PostgreSQL's own binaries (pgserver ships them), else ``PATH``; they must be at least as new
as the server.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import click

from . import checks
from .backup_blocks import MANIFEST, back_up_local, back_up_s3, restore_blocks, row_of
from .config_file import config_option, unflagged
from .options import data_dir_option, exit_on_error, store_options
from .settings import store_extra

DUMP = "database.dump"
INFO = "backup.json"
FORMAT = 1

pg_bin_option = click.option(
    "--pg-bin",
    envvar="TESSERA_PG_BIN",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of pg_dump and pg_restore [default: the embedded PostgreSQL's, else PATH].",
)


def pg_tool(name: str, pg_bin: Path | None) -> str:
    """The path of PostgreSQL's ``name`` (pg_dump, pg_restore)."""
    if pg_bin is not None:
        return str(pg_bin / name)
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        if (POSTGRES_BIN_PATH / name).exists():
            return str(POSTGRES_BIN_PATH / name)
    except ImportError:  # pragma: no cover - pgserver is a dependency
        pass
    found = shutil.which(name)
    if found is None:
        raise click.UsageError(f"{name} not found: give its directory with --pg-bin")
    return found


async def _run_tool(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        message = (err or out).decode(errors="replace").strip().splitlines()
        raise click.ClickException(f"{Path(argv[0]).name} failed: {message[-1] if message else proc.returncode}")


def _settings(data_dir: Path, store_kw: dict):
    from ..core.settings import ServerSettings

    data_dir = data_dir.resolve()
    return ServerSettings(
        database_url="", grant_secret=b"", data_dir=data_dir, blocks_dir=data_dir / "blocks", extra=store_extra(**store_kw)
    )


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@pg_bin_option
@store_options
@data_dir_option
@config_option
def backup(dest: Path, pg_bin: Path | None, data_dir: Path, **store_kw) -> None:
    """Back up the database (a consistent dump) and the blocks it references into DEST.

    Local-disk blocks are copied (again into the same DEST: only the new ones); for S3, DEST
    gets the manifest of the objects the dump references. The servers may keep running."""
    settings = _settings(data_dir, store_kw)
    # no DATABASE_URL: the embedded database of a data dir that exists, never a new empty one
    checks.existing_data_dir(settings.data_dir, unflagged("database-url"))
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with exit_on_error():
        info = asyncio.run(_backup(settings, dest, pg_tool("pg_dump", pg_bin)))
    r = info["blocks"]
    click.echo(f"backup in {dest}: database dump of schema version {info['schema_version']:03d}, "
               f"{r['count']} blocks ({r['bytes']} bytes) {'copied: ' + str(r['copied']) + ' new' if info['store'] == 'local' else 'in the manifest'}")  # fmt: skip
    if r["missing"]:
        click.echo(f"tessera-server: warning: {r['missing']} blocks the database lists as stored are missing "
                   "from the block store", err=True)  # fmt: skip
        raise SystemExit(1)


async def _backup(settings, dest: Path, pg_dump: str) -> dict:
    import asyncpg

    from blockserver.stores.factory import store_from_server_settings
    from blockserver.stores.local import LocalStore

    from .runner import database

    store = store_from_server_settings(settings)
    async with database(unflagged("database-url"), settings.data_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
                tmp = dest / f".{DUMP}.tmp"
                dump = asyncio.create_task(_run_tool(
                    pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                    f"--file={tmp}", f"--dbname={dsn}",
                ))  # fmt: skip
                rows = [row_of(r) for r in await conn.fetch(
                    "SELECT id, size, md5, sha256 FROM blocks WHERE state = 'stored' ORDER BY id"
                )]  # fmt: skip
                version = await conn.fetchval("SELECT max(version) FROM schema_migrations")
                await dump  # the snapshot must live until pg_dump has taken it
        finally:
            await conn.close()
    tmp.replace(dest / DUMP)
    async with store:
        local = isinstance(store, LocalStore)
        report = await (back_up_local(store, rows, dest) if local else back_up_s3(store, rows, dest))
    info = {
        "format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "schema_version": version, "store": "local" if local else repr(store),
        "blocks": {"count": report.blocks, "bytes": report.bytes, "copied": report.copied, "missing": report.missing},
    }  # fmt: skip
    (dest / f".{INFO}.tmp").write_text(json.dumps(info, indent=2) + "\n")
    (dest / f".{INFO}.tmp").replace(dest / INFO)
    return info


@click.command("restore")
@click.argument("src", type=click.Path(file_okay=False, exists=True, path_type=Path))
@pg_bin_option
@store_options
@data_dir_option
@config_option
def restore(src: Path, pg_bin: Path | None, data_dir: Path, **store_kw) -> None:
    """Restore a backup made by `tessera-server backup` into an empty database and the block store.

    The database must be empty: a fresh --data-dir for the embedded PostgreSQL, or a newly
    created one at DATABASE_URL. Blocks are verified against their hashes as they are stored."""
    src = src.resolve()
    if not (src / INFO).exists() or not (src / DUMP).exists():
        raise click.UsageError(f"{src} holds no finished backup ({INFO} and {DUMP} are needed)")
    settings = _settings(data_dir, store_kw)
    with exit_on_error():
        report = asyncio.run(_restore(settings, src, pg_tool("pg_restore", pg_bin)))
    click.echo(f"restored the database and {report.restored} blocks into the store "
               f"({report.present} were there already) of {report.blocks} the database lists")  # fmt: skip
    if report.missing:
        hint = " (see the manifest: restore them in the bucket)" if (src / MANIFEST).exists() else ""
        click.echo(f"tessera-server: warning: {report.missing} blocks are in neither the backup nor the store{hint}",
                   err=True)  # fmt: skip
        raise SystemExit(1)


async def _restore(settings, src: Path, pg_restore: str):
    import asyncpg

    from blockserver.stores.factory import store_from_server_settings

    from ..core import migrate
    from .runner import database

    store = store_from_server_settings(settings)
    async with database(unflagged("database-url"), settings.data_dir) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            if await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"):
                raise click.ClickException("the database is not empty: restore into a new, empty one")
        finally:
            await conn.close()
        await _run_tool(pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                        f"--dbname={dsn}", str(src / DUMP))  # fmt: skip
        await migrate.apply_dsn(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            rows = [row_of(r) for r in await conn.fetch(
                "SELECT id, size, md5, sha256 FROM blocks WHERE state = 'stored' ORDER BY id"
            )]  # fmt: skip
        finally:
            await conn.close()
    async with store:
        return await restore_blocks(store, rows, src)
