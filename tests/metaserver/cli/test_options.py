"""tessera-server flags and environment variables reach the settings (and bad ones stop the start)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from blockserver.settings import BlockServerSettings
from metaserver.cli import main as cli
from metaserver.cli import settings
from metaserver.core.settings import parse_duration


def _config(tmp_path, args: list[str], env: dict | None = None):
    """The ServerSettings `tessera-server run ARGS` would start with (click parses the flags for real)."""
    ctx = cli.run.make_context("run", ["--data-dir", str(tmp_path), *args])
    params = dict(ctx.params)
    params.pop("log_level")
    params.pop("log_format")
    return settings.build_settings("run", params.pop("data_dir"), **params)


def test_defaults(tmp_path):
    config = _config(tmp_path, [])
    assert config.upload_session_ttl == 24 * 3600
    assert (config.rate_limit, config.rate_burst) == (200.0, 1000)
    assert (config.login_rate_limit, config.login_burst) == (0.1, 10)
    assert (config.search_rate_limit, config.search_burst) == (10.0, 30)
    assert config.extra == {}
    s = BlockServerSettings.from_settings(config)
    assert (s.put_concurrency, s.put_queue_timeout, s.put_idle_timeout) == (32, 30.0, 60.0)
    assert (s.gc_interval, s.gc_grace) == (3600.0, 24 * 3600.0)


def test_flags(tmp_path):
    config = _config(tmp_path, [
        "--upload-ttl", "90m", "--rate-limit", "20", "--rate-burst", "40",
        "--login-rate-limit", "3/min", "--login-burst", "5", "--search-rate-limit", "1/s", "--search-burst", "3",
        "--put-concurrency", "4", "--put-queue-timeout", "2m", "--put-idle-timeout", "15",
        "--gc-interval", "10m", "--gc-grace", "2d",
        "--s3-bucket", "b", "--s3-endpoint", "http://127.0.0.1:9", "--no-s3-checksum-sha256",
        "--s3-max-connections", "8",
    ])
    assert config.upload_session_ttl == 5400
    assert (config.rate_limit, config.rate_burst, config.login_rate_limit, config.login_burst) == (20, 40, 0.05, 5)
    assert (config.search_rate_limit, config.search_burst) == (1.0, 3)
    s = BlockServerSettings.from_settings(config)
    assert (s.put_concurrency, s.put_queue_timeout, s.put_idle_timeout) == (4, 120.0, 15.0)
    assert (s.gc_interval, s.gc_grace) == (600.0, 2 * 86400.0)
    assert s.s3 is not None and (s.s3.checksum_sha256, s.s3.max_connections) == (False, 8)


def test_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSERA_UPLOAD_TTL", "2h")
    monkeypatch.setenv("TESSERA_PUT_CONCURRENCY", "3")
    monkeypatch.setenv("TESSERA_GC_INTERVAL", "0")
    monkeypatch.setenv("TESSERA_RATE_LIMIT", "0")
    monkeypatch.setenv("TESSERA_SEARCH_RATE_LIMIT", "0")
    config = _config(tmp_path, [])
    assert config.upload_session_ttl == 7200 and config.rate_limit == 0 and config.search_rate_limit == 0
    s = BlockServerSettings.from_settings(config)
    assert s.put_concurrency == 3 and s.gc_interval == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--put-idle-timeout", "0"], "put_idle_timeout"),
        (["--put-queue-timeout", "soon"], "not a duration"),
        (["--gc-grace", "-1h"], "not a duration"),
        (["--upload-ttl", "0"], "at least 1s"),
        (["--rate-limit", "fast"], "not a rate"),
        (["--search-rate-limit", "-1/s"], "not a rate"),
        (["--put-concurrency", "0"], "put-concurrency"),
    ],
)
def test_bad_values_stop_the_start_with_a_usage_error(tmp_path, args, message):
    result = CliRunner().invoke(cli.main, ["run", "--data-dir", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90), ("90s", 90), ("1.5m", 90), ("24h", 86400), ("7d", 604800), ("500ms", 0.5), (3, 3.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-5", "5y", "1e400", True, float("nan")])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_notify_endpoint_port_and_url(tmp_path):
    assert (_config(tmp_path, []).notify_port, _config(tmp_path, []).notify_url) == (8082, "")
    assert _config(tmp_path, ["--meta-port", "9000"]).notify_port == 9002
    assert _config(tmp_path, ["--meta-port", "0"]).notify_port == 0
    config = _config(tmp_path, ["--notify-port", "7000", "--notify-url", "https://notify.example.com/"])
    assert (config.notify_port, config.notify_url) == (7000, "https://notify.example.com")
    for bad in ("ftp://x", "https://x/path", "nonsense", "http://a:1,http://b:2"):
        with pytest.raises(click.BadParameter):
            _config(tmp_path, ["--notify-url", bad])


def test_account_options(tmp_path, monkeypatch):
    config = _config(tmp_path, [])
    assert config.public_url == "" and config.token_idle_expiry == 90 * 86400
    assert (config.login_queue, config.login_address_rate_limit, config.login_address_burst) == (16, 0.5, 30)
    config = _config(tmp_path, ["--public-url", "https://files.example.org/", "--token-idle-expiry", "30d",
                                "--login-queue", "4", "--login-address-rate-limit", "6/min",
                                "--login-address-burst", "3"])  # fmt: skip
    assert config.public_url == "https://files.example.org" and config.token_idle_expiry == 30 * 86400
    assert (config.login_queue, config.login_address_rate_limit, config.login_address_burst) == (4, 0.1, 3)
    assert (config.link_rate_limit, config.link_burst, config.link_password_rate_limit) == (5.0, 100, 0.1)
    config = _config(tmp_path, ["--link-rate-limit", "60/min", "--link-burst", "7", "--link-password-rate-limit", "0",
                                "--link-password-burst", "2"])  # fmt: skip
    assert (config.link_rate_limit, config.link_burst, config.link_password_rate_limit) == (1.0, 7, 0.0)
    assert config.link_password_burst == 2
    monkeypatch.setenv("TESSERA_PUBLIC_URL", "https://env.example.org:8443")
    monkeypatch.setenv("TESSERA_TOKEN_IDLE_EXPIRY", "0")
    config = _config(tmp_path, [])
    assert config.public_url == "https://env.example.org:8443" and config.token_idle_expiry == 0
    monkeypatch.delenv("TESSERA_PUBLIC_URL")
    for bad in (["--public-url", "files.example.org"], ["--public-url", "https://x/path"],
                ["--token-idle-expiry", "forever"]):  # fmt: skip
        with pytest.raises(click.BadParameter):
            _config(tmp_path, bad)


def test_connection_and_upload_limits(tmp_path, monkeypatch):
    config = _config(tmp_path, [])
    assert config.connections.header_timeout == 10 and config.connections.max_per_client == 256
    assert (config.max_open_uploads, config.max_pending_blocks) == (10_000, 262_144)
    assert BlockServerSettings.from_settings(config).put_per_user == 8
    monkeypatch.setenv("TESSERA_IDLE_TIMEOUT", "5s")
    monkeypatch.setenv("TESSERA_MAX_PENDING_BLOCKS", "100")
    config = _config(tmp_path, ["--header-timeout", "2s", "--body-min-rate", "4K", "--body-timeout", "1m",
                                "--max-connections-per-client", "0", "--max-open-uploads", "7", "--put-per-user", "3"])
    c = config.connections
    assert (c.header_timeout, c.idle_timeout, c.body_min_rate, c.body_timeout, c.max_per_client) == (2, 5, 4096, 60, 0)
    assert (config.max_open_uploads, config.max_pending_blocks) == (7, 100)
    assert BlockServerSettings.from_settings(config).put_per_user == 3


@pytest.mark.parametrize("value", ["x", "a" * 31])
def test_a_short_grant_secret_stops_the_start(tmp_path, value):
    """Before: a one-byte TESSERA_GRANT_SECRET (or an empty grant-secret file) signed every grant."""
    result = CliRunner().invoke(cli.main, ["run", "--data-dir", str(tmp_path)], env={"TESSERA_GRANT_SECRET": value})
    assert result.exit_code == 2 and "at least 32" in result.output and "Traceback" not in result.output


def test_an_empty_grant_secret_file_stops_the_start(tmp_path):
    (tmp_path / "grant-secret").write_bytes(b"\n")
    result = CliRunner().invoke(cli.main, ["run", "--data-dir", str(tmp_path)], env={"TESSERA_GRANT_SECRET": ""})
    assert result.exit_code == 2 and "grant-secret" in result.output and "at least 32" in result.output


def test_block_urls_are_checked_at_start(tmp_path, monkeypatch):
    """Before: a comma-separated TESSERA_BLOCK_URLS was taken as one URL and the client crashed on it."""
    monkeypatch.setenv("TESSERA_BLOCK_URLS", "http://a.example:8081,http://b.example:8081")
    result = CliRunner().invoke(cli.main, ["meta", "--data-dir", str(tmp_path)], env={"DATABASE_URL": "postgresql://x/y"})
    assert result.exit_code == 2 and "not a URL" in result.output and "TESSERA_BLOCK_URLS" in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output and len(lines) <= 3  # usage, hint, the one error line
    monkeypatch.setenv("TESSERA_BLOCK_URLS", "http://a.example:8081 https://b.example/blocks/")
    assert _config(tmp_path, []).block_urls == ("http://a.example:8081", "https://b.example/blocks")


@pytest.mark.parametrize("command", ["meta", "block", "gc"])
def test_separate_servers_need_a_database_url_or_a_flag(tmp_path, command, monkeypatch):
    """Before: without DATABASE_URL they silently started an empty embedded database."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TESSERA_EMBEDDED_DB", raising=False)
    result = CliRunner().invoke(cli.main, [command, "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2, result.output
    assert "DATABASE_URL is not set" in result.output and "--embedded-db" in result.output
    assert not (tmp_path / "d" / "pg").exists()
    assert _config(tmp_path, []).database_url == ""  # `run` keeps its embedded default


@pytest.mark.parametrize("args", [["user", "add", "bob", "--password-stdin"], ["user", "list"], ["migrate"]])
def test_admin_commands_refuse_a_data_dir_that_is_not_there(tmp_path, args, monkeypatch):
    """Before: `user add` outside the data dir made a new, empty database in ./.tessera."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.main, args, input="pw-bob-long\n")
    assert result.exit_code == 2, result.output
    assert "--data-dir" in result.output and "TESSERA_DATA_DIR" in result.output
    assert not (tmp_path / ".tessera").exists()
