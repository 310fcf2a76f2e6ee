"""``tessera-server gc`` (metaserver/cli/admin.py): the real command in a subprocess."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from blockserver import gc
from protocol.hashing import BLOCK_SIZE
from tests.blockserver.gc.conftest import Env, data_of, expire, objects, open_session, put_blocks, rows


async def _gc_cmd(env: Env, *args: str) -> tuple[int, str, str]:
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metaserver.cli", "gc", "--data-dir", str(env.config.data_dir), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": env.config.database_url},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_gc_command(env):
    assert env.config.blocks_dir == env.config.data_dir / "blocks"  # where the command looks
    data = data_of(BLOCK_SIZE + 1, seed=9)
    session = await open_session(env, "/cli.bin", data)
    await put_blocks(env, session, data)
    await expire(env, session)
    ids = {b.block_id for b in session.blocks}

    code, out, err = await _gc_cmd(env, "--grace", "0", "--dry-run")
    assert code == 0, err
    assert "dry run" in out and "upload sessions would be expired:     1" in out
    assert "blocks would be deleted:              2 (4.0 MiB)" in out
    assert await rows(env, ids) == ids

    conn = await asyncpg.connect(env.config.database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", gc.GC_LOCK_ID)
        code, out, err = await _gc_cmd(env, "--grace", "0")
        assert code == 1 and "another garbage collection is running" in err and "Traceback" not in err
    finally:
        await conn.close()
    assert await rows(env, ids) == ids

    code, out, err = await _gc_cmd(env, "--grace", "0")
    assert code == 0, err
    assert "blocks deleted:              2" in out and "dry run" not in out
    assert await rows(env, ids) == set() and await objects(env) == set()

    code, out, err = await _gc_cmd(env, "--grace", "soon")
    assert code == 2 and "not a duration" in err and "Traceback" not in err
