"""Block server settings from ServerSettings.extra, and the store they choose."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from blockserver.settings import BlockServerSettings, S3Settings
from blockserver.stores.factory import store_from_server_settings
from blockserver.stores.local import LocalStore
from blockserver.stores.s3 import S3Store
from metaserver.core.settings import ServerSettings


def config(tmp_path: Path, blocks_dir: Path | None = None, **extra) -> ServerSettings:
    return ServerSettings(
        database_url="", grant_secret=b"s", data_dir=tmp_path, blocks_dir=blocks_dir, extra=extra
    )


def test_defaults(tmp_path):
    s = BlockServerSettings.from_settings(config(tmp_path))
    origins = frozenset({"http://127.0.0.1:8080", "http://localhost:8080"})  # the web app, as browsers reach it
    assert s == BlockServerSettings(blocks_dir=tmp_path / "blocks", web_origins=origins)
    assert s.put_concurrency == 32


def test_web_origins_from_the_public_url_or_given(tmp_path):
    s = BlockServerSettings.from_settings(replace(config(tmp_path), public_url="https://files.example.com"))
    assert s.web_origins == {"https://files.example.com"}
    given = config(tmp_path, web_origins="https://a.example, https://b.example:8443/")
    assert BlockServerSettings.from_settings(given).web_origins == {"https://a.example", "https://b.example:8443"}
    for bad in ("files.example.com", "https://a.example/path", 5):
        with pytest.raises(ValueError, match="web_origins"):
            BlockServerSettings.from_settings(config(tmp_path, web_origins=bad))


def test_local_store_in_blocks_dir_or_data_dir(tmp_path):
    store = store_from_server_settings(config(tmp_path))
    assert isinstance(store, LocalStore) and store.root == tmp_path / "blocks"
    store = store_from_server_settings(config(tmp_path, blocks_dir=tmp_path / "elsewhere"))
    assert isinstance(store, LocalStore) and store.root == tmp_path / "elsewhere"


def test_s3_from_strings_as_flags_and_the_environment_give_them(tmp_path):
    c = config(
        tmp_path,
        s3_bucket="tessera",
        s3_endpoint="http://127.0.0.1:9000",
        s3_region="eu-west-1",
        s3_access_key="k",
        s3_secret_key="s",
        s3_prefix="blocks",
        s3_checksum_sha256="false",
        s3_max_connections="8",
        put_concurrency="4",
        put_queue_timeout="2.5",
    )
    s = BlockServerSettings.from_settings(c)
    assert s.s3 == S3Settings("tessera", "http://127.0.0.1:9000", "eu-west-1", "k", "s", "blocks", False, 8)
    assert (s.put_concurrency, s.put_queue_timeout, s.put_idle_timeout) == (4, 2.5, 60.0)
    store = store_from_server_settings(c)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.endpoint_url, store.region, store.prefix) == (
        "tessera",
        "http://127.0.0.1:9000",
        "eu-west-1",
        "blocks/",
    )
    assert store.checksum_sha256 is False


def test_unset_values_are_none(tmp_path):
    # what the tessera-server CLI passes when only a bucket is given
    c = config(
        tmp_path,
        s3_bucket="b",
        s3_endpoint=None,
        s3_region=None,
        s3_prefix="",
        s3_access_key=None,
        s3_secret_key=None,
    )
    s = BlockServerSettings.from_settings(c)
    assert s.s3 == S3Settings("b")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"s3_endpoint": "http://x"}, "s3_bucket"),
        ({"s3_bucket": "b", "s3_access_key": "k"}, "both"),
        ({"s3_bucket": 3}, "string"),
        ({"s3_bucket": "b", "s3_checksum_sha256": "maybe"}, "true or false"),
        ({"put_concurrency": "many"}, "number"),
        ({"put_concurrency": 0}, "positive"),
        ({"put_idle_timeout": -1}, "positive"),
        ({"put_concurrency": True}, "positive"),
    ],
)
def test_bad_settings(tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        BlockServerSettings.from_settings(config(tmp_path, **extra))


def test_settings_are_read_from_a_replaced_config(tmp_path):
    c = replace(config(tmp_path), extra={"put_concurrency": 2})
    assert BlockServerSettings.from_settings(c).put_concurrency == 2
