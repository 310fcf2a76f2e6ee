"""Apply the numbered migrations in ``migrations/`` in order, once each.

A migration is an SQL file (``NNN_name.sql``), or a Python module (``NNN_name.py``) with
``async def apply(conn)`` for a step SQL cannot do alone (folding names with
:func:`protocol.search.fold`). Each runs in a transaction of its own; applied versions are
recorded in ``schema_migrations``; an advisory lock keeps two servers starting at once from
applying the same file twice.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.(sql|py)$")
_LOCK_ID = 0x7E55E8A  # advisory lock key for migrations


#: what a migration does, given a connection inside its transaction
Step = Callable[[asyncpg.Connection], Awaitable[object]]


def available() -> list[tuple[int, str, Step]]:
    """(version, name, step) of every migration file, in order."""
    out = []
    for item in resources.files("migrations").iterdir():
        m = _NAME.match(item.name)
        if m:
            out.append((int(m.group(1)), m.group(2), _step(item.name, m.group(3), item.read_text(encoding="utf-8"))))
    out.sort(key=lambda v: v[0])
    versions = [v for v, _, _ in out]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers: {versions}")
    return out


def _step(file_name: str, kind: str, text: str) -> Step:
    if kind == "py":
        return importlib.import_module(f"migrations.{file_name[:-3]}").apply

    async def run_sql(conn: asyncpg.Connection) -> None:
        await conn.execute(text)

    return run_sql


async def apply(conn: asyncpg.Connection) -> list[int]:
    """Apply every migration not applied yet; return the versions applied now."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, step in available():
            if version in done:
                continue
            log.info("applying migration %03d_%s", version, name)
            async with conn.transaction():
                await step(conn)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def apply_dsn(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return await apply(conn)
    finally:
        await conn.close()
