"""Blocks as objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...).

Object key: ``<prefix>/<block id>`` (or the bare id without a prefix).

A put buffers the block in memory while hashing it (a block is at most
``BLOCK_SIZE``, and never more than the granted size is accepted), verifies
size, MD5 and SHA-256, and only then sends one ``PutObject`` carrying
``Content-MD5`` (and ``x-amz-checksum-sha256`` where the service supports it),
so the service checks the bytes it received as well. S3 makes an object
visible only when its ``PutObject`` completes, so nothing half-written is ever
visible. One client, and so one connection pool, serves the store's lifetime.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import botocore.exceptions
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from protocol.errors import InsufficientStorage, NotFound, Unavailable
from protocol.hashing import BlockHash

from .base import READ_PIECE, BlockStore, BlockStream, StoredObject, check_block_id, is_block_id
from .intake import receive_verified

log = logging.getLogger(__name__)

#: S3 error codes that mean "try again later", beside any 5xx status
_TRANSIENT_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "Throttling"}
)
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_FULL_CODES = frozenset({"XMinioStorageFull", "InsufficientStorage", "StorageFull"})


def _b64_of_hex(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


class S3Store(BlockStore):
    """A block store in an S3 bucket.

    ``access_key``/``secret_key`` default to the standard AWS chain
    (environment, shared config files, instance roles). ``checksum_sha256``
    sends ``x-amz-checksum-sha256`` with each put: turn it off for services that
    reject that header; ``Content-MD5`` is always sent. ``max_attempts`` bounds
    the tries of each request (botocore's standard retry mode). ``session`` lets
    several stores share one aiobotocore session (its loaded service models and
    credential providers); by default each store makes its own.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        checksum_sha256: bool = True,
        max_connections: int = 32,
        max_attempts: int = 3,
        session: AioSession | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 block store needs a bucket")
        if (access_key is None) != (secret_key is None):
            raise ValueError("give both the S3 access key and the secret key, or neither")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.checksum_sha256 = checksum_sha256
        self._access_key = access_key
        self._secret_key = secret_key
        self._max_connections = max_connections
        self._max_attempts = max_attempts
        self._session = session
        self._client: Any = None
        self._exit_stack: contextlib.AsyncExitStack | None = None

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3Store(s3://{self.bucket}/{self.prefix}{where})"

    async def start(self) -> None:
        if self._client is not None:
            return
        config = AioConfig(
            max_pool_connections=self._max_connections,
            connect_timeout=10,
            read_timeout=60,
            retries={"mode": "standard", "total_max_attempts": self._max_attempts},
            # we send our own checksums; no CRC32 computed on the event loop,
            # no response re-hashing (clients verify what they download)
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={
                # custom endpoints (MinIO, RGW, ...) rarely resolve bucket sub-domains
                "addressing_style": "path" if self.endpoint_url else "auto",
                # Content-MD5 (+ SHA-256 checksum) already protect the body; this
                # spares hashing 4 MiB on the event loop to sign it over plain http
                "payload_signing_enabled": False,
            },
        )
        stack = contextlib.AsyncExitStack()
        try:
            self._client = await stack.enter_async_context(
                (self._session or get_session()).create_client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    aws_access_key_id=self._access_key,
                    aws_secret_access_key=self._secret_key,
                    config=config,
                )
            )
        except BaseException:
            await stack.aclose()
            raise
        self._exit_stack = stack

    async def close(self) -> None:
        stack, self._exit_stack, self._client = self._exit_stack, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(f"{self!r} is not started: await start() first")
        return self._client

    def key_of(self, block_id: str) -> str:
        return self.prefix + check_block_id(block_id)

    async def put(self, block_id: str, body: AsyncIterator[bytes], expected: BlockHash) -> None:
        key = self.key_of(block_id)
        pieces: list[bytes] = []
        await receive_verified(body, expected, pieces.append)
        data = b"".join(pieces)  # botocore wants bytes; a block is at most BLOCK_SIZE
        pieces.clear()
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentLength": expected.size,
            "ContentType": "application/octet-stream",
            "ContentMD5": _b64_of_hex(expected.md5),
        }
        if self.checksum_sha256:
            params["ChecksumSHA256"] = _b64_of_hex(expected.sha256)
        async with self._s3_errors(block_id):
            await self.client.put_object(**params)

    async def open(self, block_id: str) -> tuple[int, BlockStream]:
        key = self.key_of(block_id)
        async with self._s3_errors(block_id):
            answer = await self.client.get_object(Bucket=self.bucket, Key=key)
        return answer["ContentLength"], _S3BodyStream(answer["Body"])

    async def size(self, block_id: str) -> int:
        key = self.key_of(block_id)
        async with self._s3_errors(block_id):
            answer = await self.client.head_object(Bucket=self.bucket, Key=key)
        return answer["ContentLength"]

    async def exists(self, block_id: str) -> bool:
        try:
            await self.size(block_id)
        except NotFound:
            return False
        return True

    async def delete(self, block_id: str) -> None:
        key = self.key_of(block_id)
        async with self._s3_errors(block_id):
            await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def list_ids(self) -> AsyncIterator[str]:
        async for obj in self.list_objects():  # one listing gives both
            yield obj.block_id

    async def list_objects(self) -> AsyncIterator[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        async with self._s3_errors("(listing)"):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for obj in page.get("Contents", ()):
                    name = obj["Key"][len(self.prefix) :]
                    if is_block_id(name):
                        yield StoredObject(name, obj["LastModified"].timestamp())

    # objects beside the blocks (the deployment marker, readiness probes): keys after the prefix
    # that are never block ids, so never listed as blocks

    async def read_aside(self, name: str) -> bytes | None:
        try:
            async with self._s3_errors(f"({name})"):
                answer = await self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
                async with answer["Body"] as body:
                    return await body.read()
        except NotFound:
            return None

    async def write_aside(self, name: str, data: bytes) -> None:
        async with self._s3_errors(f"({name})"):
            await self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    async def delete_aside(self, name: str) -> None:
        async with self._s3_errors(f"({name})"):
            await self.client.delete_object(Bucket=self.bucket, Key=self.prefix + name)

    @contextlib.asynccontextmanager
    async def _s3_errors(self, block_id: str) -> AsyncIterator[None]:
        """Absent objects become NotFound, transient service trouble Unavailable."""
        try:
            yield
        except botocore.exceptions.ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in _NOT_FOUND_CODES:
                raise NotFound(f"no block {block_id}") from None
            if status == 507 or code in _FULL_CODES:  # MinIO and others say so when their disks are full
                log.error("%r: %s for block %s", self, code or status, block_id)
                raise InsufficientStorage("the server is out of storage space; tell its operator") from None
            if status >= 500 or code in _TRANSIENT_CODES:
                log.warning("%r: %s for block %s", self, code or status, block_id)
                raise Unavailable("the block store is unavailable; try again") from e
            raise
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as e:
            log.warning("%r: %s", self, e)
            raise Unavailable("the block store is unavailable; try again") from e


class _S3BodyStream(BlockStream):
    """Streams a GetObject body; closing it releases the connection."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._closed = False

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        piece = await self._body.read(READ_PIECE)
        if not piece:
            await self.aclose()
            raise StopAsyncIteration
        return piece

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._body.aclose()
