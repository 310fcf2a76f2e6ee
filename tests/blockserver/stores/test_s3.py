"""S3Store specifics, against moto's S3 server: keys, prefix, checksums, lifecycle."""

from __future__ import annotations

import base64
import socket

import pytest

from blockserver.stores.s3 import S3Store
from protocol.errors import Unavailable
from protocol.hashing import hash_block

from ..conftest import body_of, create_bucket, random_bytes, random_id, read_all, s3_store_for


@pytest.fixture
async def s3(moto_endpoint, aws_session):
    async with s3_store_for(moto_endpoint, aws_session, prefix="/tessera/blocks/") as store:
        await create_bucket(store)
        yield store


async def _keys(store: S3Store) -> list[str]:
    answer = await store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in answer.get("Contents", ()))


async def test_objects_live_under_the_prefix(s3):
    assert s3.prefix == "tessera/blocks/"
    data = random_bytes(100)
    block_id = random_id()
    await s3.put(block_id, body_of(data), hash_block(data))
    assert await _keys(s3) == [f"tessera/blocks/{block_id}"]


async def test_list_ids_ignores_other_objects(s3):
    data = random_bytes(100)
    block_id = random_id()
    await s3.put(block_id, body_of(data), hash_block(data))
    for key in (
        "notes.txt",
        f"other/{random_id()}",
        "tessera/blocks/not-a-block",
        f"tessera/blocks/x/{random_id()}",
    ):
        await s3.client.put_object(Bucket=s3.bucket, Key=key, Body=b"x")
    assert [i async for i in s3.list_ids()] == [block_id]


def _record_put_headers(store: S3Store) -> list[dict[str, str]]:
    """The headers of every PutObject the store's client sends from now on, as sent."""
    sent: list[dict[str, str]] = []

    def before_send(request, **_):
        sent.append(
            {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        )

    store.client.meta.events.register("before-send.s3.PutObject", before_send)
    return sent


async def test_put_sends_md5_and_sha256_for_the_service_to_check(s3):
    sent = _record_put_headers(s3)
    data = random_bytes(1000)
    block_id = random_id()
    h = hash_block(data)
    await s3.put(block_id, body_of(data), h)
    [headers] = sent
    assert headers["content-md5"] == base64.b64encode(bytes.fromhex(h.md5)).decode()
    assert headers["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(h.sha256)).decode()
    assert headers["content-length"] == "1000"
    # the body is not hashed again on the event loop just to sign the request
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    head = await s3.client.head_object(Bucket=s3.bucket, Key=s3.key_of(block_id))
    assert head["ETag"].strip('"') == h.md5
    assert head["ContentType"] == "application/octet-stream"


async def test_without_the_sha256_checksum(moto_endpoint, aws_session):
    async with s3_store_for(moto_endpoint, aws_session, checksum_sha256=False) as store:
        await create_bucket(store)
        sent = _record_put_headers(store)
        data = random_bytes(1000)
        block_id = random_id()
        h = hash_block(data)
        await store.put(block_id, body_of(data), h)
        assert await read_all(store, block_id) == data
        assert await _keys(store) == [block_id]
        [headers] = sent
        assert headers["content-md5"] == base64.b64encode(bytes.fromhex(h.md5)).decode()
        # nothing a service without flexible checksums could trip over
        assert not [
            k for k in headers if k.startswith("x-amz-checksum-") or k == "x-amz-sdk-checksum-algorithm"
        ]


async def test_unreachable_service_is_unavailable(aws_session):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with s3_store_for(f"http://127.0.0.1:{port}", aws_session, max_attempts=1) as store:
        data = random_bytes(100)
        with pytest.raises(Unavailable):
            await store.put(random_id(), body_of(data), hash_block(data))
        with pytest.raises(Unavailable):
            await store.exists(random_id())


async def test_not_started(moto_endpoint):
    store = s3_store_for(moto_endpoint)
    with pytest.raises(RuntimeError, match="not started"):
        await store.exists(random_id())
    await store.close()  # closing an unstarted store is harmless


async def test_start_and_close_are_idempotent(moto_endpoint, aws_session):
    store = s3_store_for(moto_endpoint, aws_session)
    await store.start()
    client = store.client
    await store.start()
    assert store.client is client
    await store.close()
    await store.close()


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="bucket"):
        S3Store("")
    with pytest.raises(ValueError, match="both"):
        S3Store("b", access_key="k")
    assert S3Store("b").prefix == ""
    assert S3Store("b", prefix="p").prefix == "p/"
