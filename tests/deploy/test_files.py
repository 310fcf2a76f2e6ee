"""The files in deploy/ an operator copies: the systemd units' and compose services' command lines
are ones tessera-server accepts (with the example configuration file), the Grafana dashboard and
the alerts only use series the servers expose, and the compose file is well formed. The image is
built where a Docker engine runs; elsewhere that test says why it is skipped."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess

import aiohttp
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from metaserver.cli.main import main
from tests.deploy.nginx_stack import DEPLOY, REPO

EXAMPLE_CONFIG = DEPLOY / "tessera.toml"


def _accepts(args: list[str]) -> None:
    """tessera-server parses ``args`` (and the configuration file they name) without error."""
    args = [str(EXAMPLE_CONFIG) if a == "/etc/tessera/tessera.toml" else a for a in args]
    with main.make_context("tessera-server", list(args)) as ctx:
        name, command, rest = main.resolve_command(ctx, list(args))
        with command.make_context(name, rest, parent=ctx):
            pass


def _units() -> dict[str, configparser.ConfigParser]:
    out = {}
    for path in sorted((DEPLOY / "systemd").iterdir()):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment]
        parser.read(path)
        out[path.name] = parser
    return out


def test_the_systemd_units_run_commands_tessera_server_accepts(monkeypatch):
    units = _units()
    assert {"tessera-meta.service", "tessera-block.service", "tessera-gc.service", "tessera-gc.timer"} <= set(units)
    for name, unit in units.items():
        if name.endswith(".timer"):
            assert unit.has_section("Timer") and unit["Install"]["WantedBy"] == "timers.target"
            assert name.replace(".timer", ".service") in units
            continue
        argv = shlex.split(unit["Service"]["ExecStart"])
        assert argv[0] == "/opt/tessera/.venv/bin/tessera-server", name
        _accepts(argv[1:])
    assert "--gc-interval 0" in units["tessera-block.service"]["Service"]["ExecStart"]  # the timer collects


def test_the_example_configuration_passes_config_check(monkeypatch):
    for var in ("DATABASE_URL", "TESSERA_GRANT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(main, ["config", "check", "--config", str(EXAMPLE_CONFIG)])
    assert result.exit_code == 0, result.output
    shown = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:-1]}
    assert shown["notify-url"] == ["https://tessera.example.com", "[file]"]
    assert shown["public-url"] == ["https://tessera.example.com", "[file]"]
    assert shown["token-idle-expiry"] == ["90d", "[file]"]


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker" / "docker-compose.yml").read_text())


def test_the_compose_file_has_every_part_and_its_commands_are_accepted():
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "minio", "minio-init", "meta1", "meta2", "block1", "block2", "nginx"} <= set(services)
    for name in ("meta1", "meta2", "block1", "block2"):
        service = services[name]
        assert service["image"] == "tessera:latest" and service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and env["TESSERA_S3_BUCKET"] == "tessera-blocks"
        _accepts(service["command"])
    for volume in services["nginx"]["volumes"]:
        source = volume.split(":")[0]
        assert (DEPLOY / "docker" / source).exists(), source
    assert (DEPLOY / "docker" / ".." / ".." / "deploy" / "docker" / "Dockerfile").resolve().exists()
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        check = subprocess.run(["docker", "compose", "-f", str(DEPLOY / "docker" / "docker-compose.yml"), "config", "-q"],
                               capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0, check.stderr


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.mark.skipif(not _docker_engine(), reason="no Docker engine runs on this machine: docker build cannot run here")
def test_the_image_builds():  # pragma: no cover - needs a Docker engine
    build = subprocess.run(
        ["docker", "build", "-f", str(DEPLOY / "docker" / "Dockerfile"), "-t", "tessera:test", str(REPO)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    run = subprocess.run(["docker", "run", "--rm", "tessera:test", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "Run and administer a Tessera server" in run.stdout


def _families(text: str) -> set[str]:
    return {f.name for f in text_string_to_metric_families(text)}


_SUFFIX = re.compile(r"_(total|bucket|count|sum|created)$")


async def test_the_dashboard_and_the_alerts_only_use_series_the_servers_expose(servers):
    async with aiohttp.ClientSession() as http:
        exposed: set[str] = set()
        for url in (servers.meta_url, servers.block_url):
            async with http.get(url + "/metrics") as r:
                exposed |= _families(await r.text())
    dashboard = json.loads((DEPLOY / "grafana" / "tessera-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "tessera-alerts.yml").read_text())
    exprs += [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    used = {name for e in exprs for name in re.findall(r"\b((?:tessera|process)_[a-z_]+)\b", e)}
    assert len(used) > 20
    missing = {name for name in used if _SUFFIX.sub("", name) not in exposed and name not in exposed}
    assert missing == set()
