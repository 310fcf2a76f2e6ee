"""``tessera-server prune``, ``user retention`` and ``user list`` (metaserver/cli/retention.py,
admin.py): the real commands in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import asyncpg

from metaserver.lifecycle import PRUNE_LOCK_ID
from tests.blockserver.gc.conftest import Env, write


async def _cmd(env: Env, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "metaserver.cli", *args, "--data-dir", str(env.config.data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": env.config.database_url},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_prune_and_retention_commands(env, tmp_path):
    for text in (b"first version", b"second"):
        await env.client.upload_file(write(tmp_path, "f", text), "/doc.txt")
    await env.client.upload_file(write(tmp_path, "g", b"deleted"), "/gone.txt")
    await env.client.delete("/gone.txt")
    # version 1 saved 11 days ago, replaced 10 days ago (the last of its day)
    await env.pool.execute("UPDATE versions SET created_at = created_at - interval '10 days'")
    await env.pool.execute("UPDATE versions SET created_at = created_at - interval '1 day' WHERE number = 1")
    await env.pool.execute("UPDATE trash SET deleted_at = deleted_at - interval '10 days'")

    code, out, err = await _cmd(env, "prune")  # 30 days: nothing is old enough
    assert code == 0, err
    assert "old versions pruned:     0" in out and "trash items purged:      0" in out

    code, out, err = await _cmd(env, "user", "retention", "alice", "7")
    assert code == 0 and "retention of alice: 7 days" in out, err
    code, out, err = await _cmd(env, "user", "list")
    assert code == 0 and out.splitlines()[1].split()[4:12] == ["26", "B", "6", "B", "13", "B", "7", "B"], (out, err)
    assert "7 days" in out
    code, out, err = await _cmd(env, "user", "list", "--json")
    (alice,) = json.loads(out)["users"]
    assert (alice["used_bytes"], alice["current_bytes"], alice["version_bytes"], alice["trash_bytes"]) == (26, 6, 13, 7)
    assert alice["retention_days"] == 7
    code, out, err = await _cmd(env, "prune", "--dry-run")
    assert code == 0 and "dry run" in out and "old versions would be pruned:     1 (13 B)" in out, (out, err)
    assert await env.pool.fetchval("SELECT count(*) FROM versions") == 3

    conn = await asyncpg.connect(env.config.database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", PRUNE_LOCK_ID)
        code, out, err = await _cmd(env, "prune")
        assert code == 1 and "another pruning run" in err and "Traceback" not in err
    finally:
        await conn.close()

    code, out, err = await _cmd(env, "prune")
    assert code == 0, err
    assert "old versions pruned:     1 (13 B)" in out and "trash items purged:      1 (1 files)" in out
    assert "stored bytes freed:      20 B" in out
    assert await env.pool.fetchval("SELECT count(*) FROM versions") == 1
    assert (await env.client.usage()).used_bytes == len(b"second")

    code, out, err = await _cmd(env, "user", "retention", "alice", "default")
    assert code == 0 and "the server default" in out, err
    assert await env.pool.fetchval("SELECT retention_days FROM users") is None
    code, out, err = await _cmd(env, "user", "retention", "alice", "0")
    assert code == 2 and "1 to 36500" in err and "Traceback" not in err
    code, out, err = await _cmd(env, "user", "retention", "nobody", "5")
    assert code != 0 and "no user 'nobody'" in err and "Traceback" not in err
    code, out, err = await _cmd(env, "prune", "--retention-days", "0")
    assert code == 2 and "Traceback" not in err
