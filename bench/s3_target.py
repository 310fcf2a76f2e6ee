"""Where the benchmark keeps blocks in S3: moto's server, or an S3-compatible service the user names.

``--s3`` starts moto's S3 server (``bench/s3_server.py``, its own process on
127.0.0.1) for each server stack, with a bucket of its own. ``--s3-endpoint URL
--s3-bucket NAME`` uses a real service instead (MinIO, Ceph RGW, AWS S3), with
the credentials in ``TESSERA_S3_ACCESS_KEY`` / ``TESSERA_S3_SECRET_KEY`` (else
the standard AWS chain, as the server itself does). The bucket must exist; the
run checks that it can write there before any scenario starts. Each server stack
keeps its blocks under a key prefix of its own (``tessera-bench-<random>/``)
and removes every object under it when it stops, so a run leaves the bucket as
it found it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

#: moto's bucket and the made-up keys moto accepts
MOTO_BUCKET = "tessera-bench"
MOTO_ACCESS_KEY, MOTO_SECRET_KEY = "bench-access-key", "bench-secret-key"
#: a server stack's objects go under this prefix plus a random part
PREFIX = "tessera-bench-"
#: S3's limit on the keys of one DeleteObjects request
DELETE_BATCH = 1000


class S3Unusable(Exception):
    """The named bucket cannot be used: missing, unreachable, or the credentials are refused."""


@dataclass(frozen=True)
class S3Target:
    """An S3 endpoint and bucket; the credentials are None for the standard AWS chain."""

    endpoint: str
    bucket: str
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None

    @classmethod
    def moto(cls, endpoint: str) -> S3Target:
        return cls(endpoint, MOTO_BUCKET, "us-east-1", MOTO_ACCESS_KEY, MOTO_SECRET_KEY)

    @classmethod
    def external(cls, endpoint: str, bucket: str, region: str) -> S3Target:
        """The user's service, with the credentials the server would take from this environment."""
        return cls(
            endpoint,
            bucket,
            region,
            os.environ.get("TESSERA_S3_ACCESS_KEY") or None,
            os.environ.get("TESSERA_S3_SECRET_KEY") or None,
        )

    @staticmethod
    def new_prefix() -> str:
        return f"{PREFIX}{secrets.token_hex(6)}/"

    def server_args(self, prefix: str = "") -> list[str]:
        """``tessera-server run`` flags that keep the blocks here (under ``prefix``)."""
        args = ["--s3-endpoint", self.endpoint, "--s3-bucket", self.bucket, "--s3-region", self.region]
        return [*args, "--s3-prefix", prefix] if prefix else args

    def server_env(self) -> dict[str, str]:
        """The credentials, as the server reads them (the harness strips other TESSERA_ settings)."""
        if self.access_key and self.secret_key:
            return {"TESSERA_S3_ACCESS_KEY": self.access_key, "TESSERA_S3_SECRET_KEY": self.secret_key}
        return {}

    # -- blocking calls (boto3): run them in a thread ---------------------------------------------

    def _client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self) -> None:
        self._client().create_bucket(Bucket=self.bucket)

    def check(self) -> None:
        """Write, read back and delete one object under a fresh prefix; :class:`S3Unusable` if any step fails."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"{self.new_prefix()}check"
        s3 = self._client()
        try:
            s3.put_object(Bucket=self.bucket, Key=key, Body=b"tessera bench")
            if s3.get_object(Bucket=self.bucket, Key=key)["Body"].read() != b"tessera bench":
                raise S3Unusable(f"s3://{self.bucket}/{key} at {self.endpoint} did not read back what was written")
            s3.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            err = e.response.get("Error", {})
            raise S3Unusable(
                f"bucket {self.bucket!r} at {self.endpoint}: {err.get('Code', '?')}: {err.get('Message', e)}"
            ) from None
        except BotoCoreError as e:
            raise S3Unusable(f"bucket {self.bucket!r} at {self.endpoint}: {e}") from None

    def list_keys(self, prefix: str = "") -> list[str]:
        """The keys in the bucket that start with ``prefix``."""
        pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def remove_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; how many there were."""
        if not prefix:
            raise ValueError("refusing to empty a whole bucket")
        keys = self.list_keys(prefix)
        s3 = self._client()
        for i in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[i : i + DELETE_BATCH]]
            answer = s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise S3Unusable(f"could not delete s3://{self.bucket}/{first['Key']}: {first.get('Message')}")
        return len(keys)
