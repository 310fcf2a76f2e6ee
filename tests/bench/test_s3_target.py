"""--s3-endpoint: the benchmark on an S3 service the user names (moto's server, run here as that service).

The bench writes only under prefixes of its own, removes them when each stack
stops, and refuses at once, in one line, a bucket it cannot use.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest

from bench import files
from bench.s3_target import PREFIX, S3Target, S3Unusable
from bench.servers import ServerStack, StackOptions
from protocol.hashing import BLOCK_SIZE
from tests.bench.conftest import REPO, bench_env, run_bench

KEYS = {"TESSERA_S3_ACCESS_KEY": "users-key", "TESSERA_S3_SECRET_KEY": "users-secret"}


@pytest.fixture
def users_bucket(moto_endpoint) -> S3Target:
    """A bucket of 'the user's', holding an object of theirs the bench must leave alone."""
    target = S3Target(moto_endpoint, f"users-{uuid.uuid4().hex[:8]}", "us-east-1",
                      KEYS["TESSERA_S3_ACCESS_KEY"], KEYS["TESSERA_S3_SECRET_KEY"])  # fmt: skip
    target.create_bucket()
    target._client().put_object(Bucket=target.bucket, Key="theirs/keep.txt", Body=b"not the bench's")
    return target


async def test_a_stack_keeps_blocks_under_its_prefix_and_removes_them(tmp_path, users_bucket):
    src = files.write_random(tmp_path / "f.bin", BLOCK_SIZE + 10, seed=9)
    async with ServerStack(StackOptions(s3_target=users_bucket), parent_dir=tmp_path) as stack:
        assert stack.s3_prefix.startswith(PREFIX) and stack.s3 is None  # no moto of its own
        account = await stack.new_account()
        async with stack.client(account.tokens[0]) as client:
            await client.upload_file(src, "/f.bin")
        ours = await asyncio.to_thread(users_bucket.list_keys, stack.s3_prefix)
        assert len([k for k in ours if not k.endswith("/tessera-deployment")]) == 2  # blocks, and the marker
    assert await asyncio.to_thread(users_bucket.list_keys) == ["theirs/keep.txt"]


def test_check_names_a_missing_bucket(moto_endpoint):
    missing = S3Target(moto_endpoint, "no-such-bucket", "us-east-1", "k", "s")
    with pytest.raises(S3Unusable, match="no-such-bucket.*NoSuchBucket"):
        missing.check()


def test_remove_prefix_refuses_the_whole_bucket(users_bucket):
    with pytest.raises(ValueError):
        users_bucket.remove_prefix("")
    assert users_bucket.list_keys() == ["theirs/keep.txt"]


def test_bench_large_on_the_users_s3(tmp_path, users_bucket):
    """`python -m bench large --s3-endpoint URL --s3-bucket NAME`: measured there, nothing left behind."""
    s = run_bench(tmp_path, "large", "--size", "4M", "--repeat", "1", "--no-cli", "--no-plots", "--no-peers",
                  "--s3-endpoint", users_bucket.endpoint, "--s3-bucket", users_bucket.bucket,
                  env=bench_env(**KEYS))  # fmt: skip
    assert s["options"]["s3_endpoint"] == users_bucket.endpoint and s["parameters"]["s3"] is True
    assert s["summary"]["4MiB"]["upload_mib_s"] > 0 and s["summary"]["4MiB"]["download_mib_s"] > 0
    assert users_bucket.list_keys() == ["theirs/keep.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--s3-bucket", "b"], "--s3-bucket needs --s3-endpoint"),
        (["--s3-endpoint", "ENDPOINT"], "--s3-endpoint needs --s3-bucket"),
        (["--s3", "--s3-endpoint", "ENDPOINT", "--s3-bucket", "b"], "exclude each other"),
        (["--s3-endpoint", "ENDPOINT", "--s3-bucket", "no-such-bucket"], "cannot use S3: bucket 'no-such-bucket'"),
    ],
)
def test_bad_s3_options_are_one_line_errors(tmp_path, moto_endpoint, args, message):
    args = [moto_endpoint if a == "ENDPOINT" else a for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "large", "--size", "1M", "--work-dir", str(tmp_path), *args],
        cwd=REPO, env=bench_env(**KEYS), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started
