"""The restore drill: back up a running server, destroy its data dir, restore into a fresh one,
and every file (and every older version) downloads byte-identical with the old device token."""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import signal

from client import TesseraClient
from protocol.hashing import BLOCK_SIZE
from tests.metaserver.cli.test_main import SERVER, clean_env, run_cmd


async def _start(data_dir) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *SERVER, "run", "--data-dir", str(data_dir), "--meta-port", "0", "--block-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
        assert line, (await proc.stderr.read()).decode()
        m = re.match(r"metadata server:\s+(http://\S+)", line)
        if m:
            return proc, m.group(1)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 60) == 0


async def test_back_up_destroy_restore_and_every_file_comes_back(tmp_path):
    old, backup, new = tmp_path / "old", tmp_path / "backup", tmp_path / "new"
    rng = random.Random(7)
    files = {
        "/big.bin": rng.randbytes(2 * BLOCK_SIZE + 3),
        "/Docs/small.txt": b"hello, restore drill\n",
        "/Docs/deeper/one-block.bin": rng.randbytes(BLOCK_SIZE),
        "/empty": b"",
    }
    first_version = rng.randbytes(1000)
    proc, url = await _start(old)
    try:
        code, _, err = await run_cmd("user", "add", "alice", "--password-stdin", "--data-dir", str(old),
                                     stdin=b"pw-alice-long\n", env=clean_env())  # fmt: skip
        assert code == 0, err
        async with TesseraClient(url) as client:
            token = (await client.login("alice", "pw-alice-long", "drill")).token
            src = tmp_path / "src"
            src.write_bytes(first_version)
            v1 = (await client.upload_file(src, "/Docs/small.txt")).metadata.rev
            for path, data in files.items():
                src.write_bytes(data)
                await client.upload_file(src, path)
        for _ in range(2):  # the second run copies no block again
            code, out, err = await run_cmd("backup", str(backup), "--data-dir", str(old), env=clean_env())
            assert code == 0, err
        assert "6 blocks" in out and "copied: 0 new" in out, out
        info = json.loads((backup / "backup.json").read_text())
        assert info["blocks"]["count"] == 6 and info["store"] == "local"
    finally:
        await _stop(proc)

    shutil.rmtree(old)  # the disaster
    code, out, err = await run_cmd("restore", str(backup), "--data-dir", str(new), env=clean_env())
    assert code == 0, err
    assert "6 blocks" in out, out
    code, out, err = await run_cmd("restore", str(backup), "--data-dir", str(new), env=clean_env())
    assert code == 1 and "not empty" in err and "Traceback" not in err  # never over a live database

    proc, url = await _start(new)
    try:
        async with TesseraClient(url, token) as client:  # the device token came back with the database
            for path, data in files.items():
                out_file = tmp_path / "out"
                await client.download_file(path, out_file)
                assert out_file.read_bytes() == data, path
            await client.download_file("/Docs/small.txt", tmp_path / "v1", rev=v1)
            assert (tmp_path / "v1").read_bytes() == first_version
    finally:
        await _stop(proc)
