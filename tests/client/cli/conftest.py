"""The CLI tests' ``tessera``: the CLI with a config folder of its own, for user alice on the real servers."""

from __future__ import annotations

import pytest

from tests.client.conftest import PASSWORD, USER

from .cli_run import Tessera


@pytest.fixture
async def tessera(servers, tmp_path) -> Tessera:
    await servers.add_user(USER, PASSWORD)
    work = tmp_path / "work"
    work.mkdir()
    return Tessera(tmp_path / "config", work)
