"""The database's own commit rate, measured in the same run: the floor under every metadata write.

:func:`commit_rate` has ``clients`` connections commit one-row INSERTs, each its
own durable transaction (one WAL flush, the server's own ``synchronous_commit``),
into a table of its own in the stack's database, for at most :data:`MAX_SECONDS`
(or the scenario's shorter bound) and :data:`MAX_COUNT` transactions (the
database's rate is steady within a second or two), and drops the table again. A Tessera commit
is several such transactions (create the upload, mark its block stored, commit)
of several statements each, so its rate as a ratio to this one says how much of
the database's capacity one commit takes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import asyncpg

PAYLOAD = secrets.token_bytes(200)
MAX_SECONDS = 3.0
MAX_COUNT = 200_000


async def commit_rate(dsn: str, clients: int, count: int = MAX_COUNT, duration: float = MAX_SECONDS) -> dict[str, Any]:
    """``{"done", "wall_s", "per_s"}``: one-row transactions committed by ``clients`` connections."""
    count, duration = min(count, MAX_COUNT), min(duration, MAX_SECONDS)
    table = f"bench_commit_baseline_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, client int NOT NULL, payload bytea)")
        conns = await asyncio.gather(*(asyncpg.connect(dsn) for _ in range(clients)))
        try:
            left = iter(range(count))
            done = 0
            deadline = time.perf_counter() + duration

            async def worker(n: int, conn: asyncpg.Connection) -> None:
                nonlocal done
                insert = await conn.prepare(f"INSERT INTO {table} (client, payload) VALUES ($1, $2)")
                for _ in left:
                    if time.perf_counter() >= deadline:
                        return
                    await insert.fetch(n, PAYLOAD)
                    done += 1

            t0 = time.perf_counter()
            await asyncio.gather(*(worker(n, c) for n, c in enumerate(conns)))
            wall = time.perf_counter() - t0
        finally:
            await asyncio.gather(*(c.close() for c in conns))
        await admin.execute(f"DROP TABLE {table}")
    finally:
        await admin.close()
    return {"done": done, "wall_s": wall, "per_s": done / wall if wall else float("nan")}
