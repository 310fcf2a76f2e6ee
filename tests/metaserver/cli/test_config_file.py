"""The TOML configuration file: every flag can be set in it, the environment and flags win over
it, an unknown key stops the start, and `config check` prints the settings with secrets masked."""

from __future__ import annotations

import json

import asyncpg
import pytest
from click.testing import CliRunner

from blockserver.settings import BlockServerSettings
from metaserver.cli import main as cli
from metaserver.cli import settings
from metaserver.core import migrate
from tests.conftest import dsn_with_db
from tests.metaserver.cli.test_main import clean_env, run_cmd

CONFIG = """
host = "0.0.0.0"
meta-port = 9000
block_port = 9001
block-url = ["https://blocks-1.example.com", "https://blocks-2.example.com"]
rate-limit = "50/s"
grant-secret = "file-secret-0123456789abcdef-0123456789"
database-url = "postgresql://tessera:hunter2@db.example.com/tessera"

[s3]
bucket = "tessera-blocks"
endpoint = "https://s3.example.com"
checksum-sha256 = false
access-key = "AKIAFROMFILE"
secret-key = "secret-from-file"

[gc]
interval = "30m"
"""


def _settings(tmp_path, args: list[str]):
    """The ServerSettings `tessera-server run ARGS` would start with, click parsing for real."""
    with cli.run.make_context("run", ["--data-dir", str(tmp_path / "d"), *args]) as ctx:
        params = dict(ctx.params)
        for name in ("log_level", "log_format"):
            params.pop(name)
        return settings.build_settings("run", params.pop("data_dir"), **params)


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    for var in ("DATABASE_URL", "TESSERA_GRANT_SECRET", "TESSERA_META_PORT", "TESSERA_S3_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "tessera.toml"
    path.write_text(CONFIG)
    return path


def test_the_file_sets_every_kind_of_setting(tmp_path, config_file):
    s = _settings(tmp_path, ["--config", str(config_file)])
    assert (s.host, s.meta_port, s.block_port, s.rate_limit) == ("0.0.0.0", 9000, 9001, 50.0)
    assert s.block_urls == ("https://blocks-1.example.com", "https://blocks-2.example.com")
    assert s.grant_secret == b"file-secret-0123456789abcdef-0123456789"
    assert s.database_url == "postgresql://tessera:hunter2@db.example.com/tessera"
    b = BlockServerSettings.from_settings(s)
    assert b.s3 is not None and (b.s3.bucket, b.s3.checksum_sha256, b.s3.secret_key) == ("tessera-blocks", False, "secret-from-file")
    assert b.gc_interval == 1800


def test_environment_wins_over_the_file_and_flags_win_over_both(tmp_path, config_file, monkeypatch):
    monkeypatch.setenv("TESSERA_CONFIG", str(config_file))
    monkeypatch.setenv("TESSERA_META_PORT", "9100")
    monkeypatch.setenv("TESSERA_S3_SECRET_KEY", "secret-from-env")
    s = _settings(tmp_path, ["--block-port", "9200"])
    assert (s.meta_port, s.block_port, s.host) == (9100, 9200, "0.0.0.0")
    assert BlockServerSettings.from_settings(s).s3.secret_key == "secret-from-env"


def test_an_unknown_key_or_a_bad_value_stops_the_start_naming_it(tmp_path, config_file):
    config_file.write_text(CONFIG + "\n[s3x]\nbucket = 1\n")
    result = CliRunner().invoke(cli.main, ["config", "check", "--config", str(config_file)])
    assert result.exit_code == 2 and "unknown setting s3x-bucket" in result.output
    config_file.write_text(CONFIG.replace('interval = "30m"', 'interval = "soon"'))
    result = CliRunner().invoke(cli.main, ["config", "check", "--config", str(config_file)])
    assert result.exit_code == 2 and "--gc-interval" in result.output and "not a duration" in result.output


def test_config_check_prints_the_effective_settings_with_secrets_masked(tmp_path, config_file, monkeypatch):
    monkeypatch.setenv("TESSERA_META_PORT", "9100")
    result = CliRunner().invoke(
        cli.main, ["config", "check", "--config", str(config_file), "--", "--block-port", "9200"]
    )
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:-1]}
    assert lines["meta-port"].split()[1:] == ["9100", "[env]"]
    assert lines["block-port"].split()[1:] == ["9200", "[flag]"]
    assert lines["host"].split()[1:] == ["0.0.0.0", "[file]"]
    assert lines["upload-ttl"].split()[1:] == ["24h", "[default]"]
    assert "postgresql://tessera:****@db.example.com/tessera" in lines["database-url"]
    for secret in ("hunter2", "file-secret-0123456789abcdef-0123456789", "secret-from-file", "AKIAFROMFILE"):
        assert secret not in result.output
    assert result.output.rstrip().endswith("configuration ok")
    assert not (tmp_path / "d").exists()  # checking writes nothing


async def test_admin_commands_take_the_database_from_the_file_and_migrate_says_what_it_applied(
    pg_template, tmp_path
):
    name = "fresh_cfg_migrate"
    admin = await asyncpg.connect(pg_template)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    try:
        path = tmp_path / "t.toml"
        path.write_text(f'database-url = "{dsn_with_db(pg_template, name)}"\n')
        env = clean_env()
        code, out, err = await run_cmd("migrate", "--config", str(path), "--data-dir", str(tmp_path / "d"), env=env)
        versions = [v for v, _, _ in migrate.available()]
        assert code == 0, err
        assert out.strip() == f"applied {len(versions)} migrations: " + ", ".join(f"{v:03d}" for v in versions)
        code, out, err = await run_cmd("migrate", "--config", str(path), "--data-dir", str(tmp_path / "d"), env=env)
        assert (code, out.strip()) == (0, "database is up to date")
        # the user commands of the accounts work take the file too
        file_args = ("--config", str(path), "--data-dir", str(tmp_path / "d"))
        code, _, err = await run_cmd("user", "add", "erin", "--password-stdin", *file_args, stdin=b"pw-erin-long\n", env=env)
        assert code == 0, err
        code, _, err = await run_cmd("user", "disable", "erin", *file_args, env=env)
        assert code == 0, err
        code, out, err = await run_cmd("user", "list", "--json", *file_args, env=env)
        assert code == 0, err
        assert [(u["name"], u["disabled"]) for u in json.loads(out)["users"]] == [("erin", True)]
        assert not (tmp_path / "d" / "pg").exists()  # no embedded PostgreSQL was started
    finally:
        admin = await asyncpg.connect(pg_template)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


def _checked(config_file, settings: str) -> dict[str, list[str]]:
    """`config check` of the file: passes, and shows each of ``settings`` (TOML lines) as from the file."""
    result = CliRunner().invoke(cli.main, ["config", "check", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    shown = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:-1]}
    for line in settings.strip().splitlines():
        key, value = (part.strip().strip('"') for part in line.split("="))
        assert shown[key] == [value, "[file]"], key
    return shown


ACCOUNT_SETTINGS = """
public-url = "https://files.example.org"
token-idle-expiry = "30d"
login-queue = 4
login-address-rate-limit = "6/min"
login-address-burst = 3
link-rate-limit = "2/s"
link-burst = 20
link-password-rate-limit = "3/min"
link-password-burst = 4
"""


def test_the_account_settings_come_from_the_file_and_config_check_lists_them(tmp_path, config_file):
    config_file.write_text(CONFIG.replace("\n[s3]", ACCOUNT_SETTINGS + "\n[s3]", 1))
    s = _settings(tmp_path, ["--config", str(config_file)])
    assert (s.public_url, s.token_idle_expiry, s.login_queue) == ("https://files.example.org", 30 * 86400, 4)
    assert (s.login_address_rate_limit, s.login_address_burst) == (0.1, 3)
    assert (s.link_rate_limit, s.link_burst, s.link_password_rate_limit, s.link_password_burst) == (2.0, 20, 0.05, 4)
    _checked(config_file, ACCOUNT_SETTINGS)
    config_file.write_text(CONFIG.replace("\n[s3]", '\ntoken-idle-expiry = "forever"\n[s3]', 1))
    result = CliRunner().invoke(cli.main, ["config", "check", "--config", str(config_file)])
    assert result.exit_code == 2 and "--token-idle-expiry" in result.output and "not a duration" in result.output


HARDENING_SETTINGS = """
header-timeout = "5s"
idle-timeout = "30s"
body-min-rate = "4K"
body-timeout = "20s"
max-connections-per-client = 0
max-open-uploads = 100
max-pending-blocks = 1000
put-per-user = 2
search-rate-limit = "2/s"
search-burst = 5
"""


def test_the_connection_and_upload_limits_come_from_the_file_and_config_check_lists_them(tmp_path, config_file):
    config_file.write_text(CONFIG.replace("\n[s3]", HARDENING_SETTINGS + "embedded-db = true\n\n[s3]", 1))
    s = _settings(tmp_path, ["--config", str(config_file)])
    c = s.connections
    assert (c.header_timeout, c.idle_timeout, c.body_min_rate, c.body_timeout, c.max_per_client) == (5, 30, 4096, 20, 0)
    assert (s.max_open_uploads, s.max_pending_blocks) == (100, 1000)
    assert (s.search_rate_limit, s.search_burst) == (2.0, 5)
    assert BlockServerSettings.from_settings(s).put_per_user == 2
    shown = _checked(config_file, HARDENING_SETTINGS)
    assert shown["embedded-db"] == ["True", "[file]"]
    config_file.write_text(CONFIG.replace("\n[s3]", '\nheader-timeout = "0s"\n[s3]', 1))
    result = CliRunner().invoke(cli.main, ["config", "check", "--config", str(config_file)])
    assert result.exit_code == 2 and "--header-timeout" in result.output


def test_a_short_grant_secret_in_the_file_fails_config_check(tmp_path, config_file):
    config_file.write_text(CONFIG.replace("file-secret-0123456789abcdef-0123456789", "short"))
    result = CliRunner().invoke(cli.main, ["config", "check", "--config", str(config_file)])
    assert result.exit_code == 2 and "at least 32" in result.output, result.output
