"""Step 1 of a garbage collection run: release committed sessions' block lists, expire upload
sessions, drop old session tombstones."""

from __future__ import annotations

import asyncpg

from metaserver.core import db

from .options import GcOptions, GcReport

SESSION_BATCH = 100


async def release_committed(pool: asyncpg.Pool, o: GcOptions, report: GcReport) -> None:
    """Drop the block lists of committed sessions: their version references those blocks now, and
    nothing reads a committed session's list, so a file purged soon after its upload does not
    keep its blocks until the session would have expired."""
    committed = """upload_sessions s WHERE s.state = 'committed'
                     AND EXISTS (SELECT 1 FROM session_blocks sb WHERE sb.session_id = s.id)"""
    if o.dry_run:
        async with db.connection(pool) as conn:
            report.sessions_released = await conn.fetchval(f"SELECT count(*) FROM {committed}")
        return
    while True:
        async with db.transaction(pool) as conn:
            # SKIP LOCKED: a commit holds its session FOR UPDATE (a retried one, too)
            ids = await conn.fetchval(f"SELECT array(SELECT s.id FROM {committed} LIMIT $1 FOR UPDATE OF s SKIP LOCKED)", SESSION_BATCH)
            if ids:
                await conn.execute("DELETE FROM session_blocks WHERE session_id = ANY($1::uuid[])", ids)
        report.sessions_released += len(ids)
        if len(ids) < SESSION_BATCH:
            return


async def expire_sessions(pool: asyncpg.Pool, o: GcOptions, report: GcReport) -> None:
    expired = """upload_sessions s WHERE s.expires_at < now() - make_interval(secs => $1)
                   AND EXISTS (SELECT 1 FROM session_blocks sb WHERE sb.session_id = s.id)"""
    if o.dry_run:
        async with db.connection(pool) as conn:
            report.sessions_expired = await conn.fetchval(f"SELECT count(*) FROM {expired}", o.session_slack)
        return
    while True:
        async with db.transaction(pool) as conn:
            # FOR UPDATE: a commit of the session holds it FOR UPDATE while it copies the block list
            ids = await conn.fetchval(
                f"SELECT array(SELECT s.id FROM {expired} LIMIT $2 FOR UPDATE OF s SKIP LOCKED)",
                o.session_slack,
                SESSION_BATCH,
            )
            if ids:
                await conn.execute("DELETE FROM session_blocks WHERE session_id = ANY($1::uuid[])", ids)
        report.sessions_expired += len(ids)
        if len(ids) < SESSION_BATCH:
            return


async def remove_tombstones(pool: asyncpg.Pool, o: GcOptions, report: GcReport) -> None:
    old = "upload_sessions WHERE expires_at < now() - make_interval(secs => $1)"
    if o.dry_run:
        async with db.connection(pool) as conn:
            report.sessions_removed = await conn.fetchval(f"SELECT count(*) FROM {old}", o.tombstone_age)
        return
    while True:
        async with db.transaction(pool) as conn:
            status = await conn.execute(
                f"DELETE FROM upload_sessions WHERE id IN (SELECT id FROM {old} LIMIT $2 FOR UPDATE SKIP LOCKED)",
                o.tombstone_age,
                o.batch,
            )
        n = int(status.split()[-1])
        report.sessions_removed += n
        if n < o.batch:
            return
