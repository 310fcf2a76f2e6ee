"""Fixtures for shared folders: five users, each logged in on the metadata server alone (blocks
marked stored by hand)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from metaserver.core.users import create_user
from tests.metaserver.conftest import Api


@pytest.fixture
async def people(meta, pool) -> dict[str, Api]:
    """alice, bob, carol, dave and erin, each an Api with their own token."""
    out = {}
    for name in ("alice", "bob", "carol", "dave", "erin"):
        async with pool.acquire() as conn:
            await create_user(conn, name, f"pw-{name}-long")
        answer = await meta.ok("POST", "/v1/auth/login", {"user": name, "password": f"pw-{name}-long", "device": f"{name}-laptop"})
        out[name] = replace(meta, token=answer["token"])
    return out


async def join(owner: Api, member: Api, share: str, user: str, role: str, at: str | None = None) -> str:
    """Invite ``user`` to ``share`` as ``role`` and accept it; the mount path."""
    inv = await owner.ok("POST", "/v1/shares/invite", {"path": share, "user": user, "role": role})
    body = {"id": inv["id"]} if at is None else {"id": inv["id"], "at": at}
    return (await member.ok("POST", "/v1/shares/accept", body))["path"]
