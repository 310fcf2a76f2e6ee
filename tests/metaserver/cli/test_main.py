"""``tessera-server`` end to end: the real command in a subprocess, embedded PostgreSQL."""

import asyncio
import os
import re
import signal
import sys

import aiohttp

SERVER = [sys.executable, "-m", "metaserver.cli"]


async def run_cmd(*args, stdin: bytes | None = None, env=None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *SERVER, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    return proc.returncode, out.decode(), err.decode()


def clean_env() -> dict:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("TESSERA_GRANT_SECRET", None)
    return env


async def test_run_user_add_login_and_clean_shutdown(tmp_path):
    data = tmp_path / "d"
    env = clean_env()
    proc = await asyncio.create_subprocess_exec(
        *SERVER, "run", "--data-dir", str(data), "--meta-port", "0", "--block-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        urls = {}
        while len(urls) < 3:
            line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
            assert line, (await proc.stderr.read()).decode()
            m = re.match(r"(metadata|block|notify) (?:server|endpoint):\s+(http://\S+)", line)
            if m:
                urls[m.group(1)] = m.group(2)
        code, out, err = await run_cmd("user", "add", "carol", "--password-stdin", "--data-dir", str(data),
                                       stdin=b"pw-carol\n", env=env)
        assert code == 0, err
        code, _, err = await run_cmd("user", "add", "carol", "--password-stdin", "--data-dir", str(data),
                                     stdin=b"again-long\n", env=env)
        assert code != 0 and "already exists" in err and "Traceback" not in err
        async with aiohttp.ClientSession() as s:
            async with s.post(urls["metadata"] + "/v1/auth/login",
                              json={"user": "carol", "password": "pw-carol", "device": "t"}) as r:
                assert r.status == 200
                token = (await r.json())["token"]
            # the notify endpoint the server started beside the metadata server, as it names it
            async with s.get(urls["metadata"] + "/v1/changes/notify", headers={"Authorization": f"Bearer {token}"}) as r:
                assert (await r.json())["url"] == urls["notify"] + "/v1/changes/longpoll"
            async with s.get(urls["notify"] + "/v1/changes/longpoll", params={"cursor": ""},
                             headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200 and await r.json() == {"changes": True}
            async with s.get(urls["block"] + "/v1/health") as r:
                assert r.status == 200
        assert (data / "grant-secret").exists() and (data / "pg" / "PG_VERSION").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0, (await proc.stderr.read()).decode()


async def test_migrate_twice_is_a_no_op(database_url, tmp_path):
    env = {**clean_env(), "DATABASE_URL": database_url}
    code, out, err = await run_cmd("migrate", "--data-dir", str(tmp_path), env=env)
    assert code == 0, err
    assert out.strip() == "database is up to date"  # the test database is already migrated


async def test_quota_of_unknown_user_is_a_clean_error(database_url, tmp_path):
    env = {**clean_env(), "DATABASE_URL": database_url}
    code, out, err = await run_cmd("user", "quota", "nobody", "10G", "--data-dir", str(tmp_path), env=env)
    assert code != 0 and err.strip().startswith("tessera-server: error:") and "Traceback" not in err
    code, out, err = await run_cmd("user", "quota", "nobody", "lots", "--data-dir", str(tmp_path), env=env)
    assert code != 0 and "Traceback" not in err


async def test_run_with_s3_backend_end_to_end(database_url, tmp_path):
    """`tessera-server run --s3-endpoint ...` keeps blocks in S3 (moto's real server on 127.0.0.1)."""
    from aiobotocore.session import get_session
    from moto.server import ThreadedMotoServer

    from client import TesseraClient

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    creds = {"TESSERA_S3_ACCESS_KEY": "ak", "TESSERA_S3_SECRET_KEY": "sk"}
    try:
        session = get_session()
        async with session.create_client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="ak", aws_secret_access_key="sk"
        ) as s3:
            await s3.create_bucket(Bucket="tessera-blocks")
            env = {**clean_env(), "DATABASE_URL": database_url, **creds}
            proc = await asyncio.create_subprocess_exec(
                *SERVER, "run", "--data-dir", str(tmp_path / "d"), "--meta-port", "0", "--block-port", "0",
                "--s3-endpoint", endpoint, "--s3-bucket", "tessera-blocks", "--s3-region", "us-east-1",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
            )
            try:
                meta_url = None
                while meta_url is None:
                    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
                    assert line, (await proc.stderr.read()).decode()
                    if line.startswith("block server:"):
                        assert "s3 bucket tessera-blocks" in line
                    m = re.match(r"metadata server:\s+(http://\S+)", line)
                    meta_url = m.group(1) if m else None
                code, _, err = await run_cmd("user", "add", "dora", "--password-stdin", "--data-dir",
                                             str(tmp_path / "d"), stdin=b"pw-dora-long\n", env=env)
                assert code == 0, err
                data = os.urandom(5 * 1024 * 1024 + 3)
                src, out = tmp_path / "src.bin", tmp_path / "out.bin"
                src.write_bytes(data)
                async with TesseraClient(meta_url) as c:
                    await c.login("dora", "pw-dora-long", "t")
                    await c.upload_file(src, "/s3/file.bin")
                    await c.download_file("/s3/file.bin", out)
                assert out.read_bytes() == data
                listed = [o["Key"] for o in (await s3.list_objects_v2(Bucket="tessera-blocks")).get("Contents", [])]
                assert sorted(listed)[-1] == "tessera-deployment"  # the store is bound to this deployment
                assert len(listed) == 3  # and two blocks, keyed by block id
                assert not any((tmp_path / "d" / "blocks").glob("*/*"))  # nothing on local disk
            finally:
                proc.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        moto.stop()
        moto._server.server_close()


async def test_a_busy_port_is_one_line_naming_the_flag(database_url, tmp_path):
    import socket

    env = {**clean_env(), "DATABASE_URL": database_url}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for flags, named in (
            (["--meta-port", port], "--meta-port"),
            (["--meta-port", "0", "--notify-port", port], "--notify-port"),
        ):
            code, out, err = await run_cmd("meta", "--data-dir", str(tmp_path), "--block-url", "http://127.0.0.1:9",
                                           *flags, env=env)  # fmt: skip
            lines = [line for line in err.splitlines() if "error" in line]
            assert code == 1 and "Traceback" not in err, err
            assert len(lines) == 1 and named in lines[0] and "in use" in lines[0], err
