"""Logging in and the account (``POST /v1/auth/login``, ``GET /v1/account``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .wire import answer


@answer("login")
@dataclass(frozen=True, slots=True)
class Login:
    """A new device token, and whose it is."""

    token: str
    user: str
    device: str


@answer("account")
@dataclass(frozen=True, slots=True)
class Account:
    user: str
    user_id: int
    device: str
    #: None: no quota
    quota_bytes: int | None
    used_bytes: int

    def to_json(self) -> dict[str, Any]:
        """What the CLI prints with ``--json``: the wire form."""
        return self.to_wire()  # type: ignore[attr-defined]
