"""The scenarios of issue 5: one module each (``bench/scenario_NAME.py`` with ``run(ctx)``).

A scenario that cannot run yet is listed in ``PENDING`` with what it waits
for; ``python -m bench all`` reports it as a row saying so. Adding one is
writing its module and moving its name from ``PENDING`` to ``SCENARIOS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import BenchContext
    from .report import ScenarioResult

#: name -> what it measures; each has a module bench/scenario_<name>.py
SCENARIOS = {
    "large": "put/get of large random files vs MD5, SHA-256, cp, bare aiohttp (and rclone)",
    "small": "2,000 files of 4 KiB in 20 folders: client library, tessera sync daemons A to B, Syncthing",
    "delta": "1 MiB edit and 8 MiB append to a 256 MiB file: bytes sent, time until a 2nd device has it, Syncthing",
    "longpoll": "N held long-polls on one metadata server, one commit: time until all answered, RSS per poll",
    "commits": "commits per second of 4 KiB files with 16 concurrent clients",
    "propagation": "tessera sync daemon A writes, daemon B receives: 50 files one by one, a 256 MiB file; Syncthing",
    "search": "name search over 1,000,000 entries of 1,000 users: p50/p99 for a 100,000-file user and typical ones",
}

#: name -> what it needs before it can run
PENDING: dict[str, str] = {}

#: targets of issue 5 that a pending scenario will judge
PENDING_TARGETS: dict[str, tuple[str, ...]] = {}

#: the standard suite of `python -m bench all` (in this order)
SUITE = ("large", "small", "delta", "propagation", "commits", "longpoll")


def runner(name: str) -> Callable[[BenchContext], Awaitable[ScenarioResult]]:
    module = importlib.import_module(f"bench.scenario_{name}")
    return module.run
