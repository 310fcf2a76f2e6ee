"""The pool's connections: opened ready for the statements the server runs."""

from metaserver.core import db


async def test_pool_connections_know_every_array_type_from_the_start(database_url):
    # asyncpg runs a catalog (type introspection) query the first time a connection binds an
    # array type it has not met; the pool's connections are warmed so no request pays for it
    casts = ", ".join(f"${i}::{t}[]" for i, t in enumerate(db.ARRAY_TYPES, 1))
    statement = f"SELECT {casts} -- test"
    pool = await db.create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            seen: list[str] = []

            def log(record) -> None:
                seen.append(record.query)

            conn.add_query_logger(log)
            await conn.fetchrow(statement, [1], [2], [True], [b"x"], ["t"], ["0" * 32])
            conn.remove_query_logger(log)
    finally:
        await pool.close()
    assert seen == [statement]
