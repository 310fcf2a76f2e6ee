"""The ``longpoll`` scenario's shared-folder round: a folder shared with 50 members, each holding
one long-poll on the notify endpoint (their own token, their own cursor over their whole tree);
one commit in the share by its owner; how long until every member's poll is answered (issue 18:
p99 under 200 ms). The members log in once each (password hashing), then accept the invitation.
"""

from __future__ import annotations

import asyncio
from typing import Any

from yarl import URL

from metaserver.changes.longpoll import LONGPOLL_MIN

from . import rawpoll
from .report import ScenarioResult, Target
from .servers import ServerStack
from .stats import summarize

MEMBERS = 50
P99_TARGET_MS = 200.0
ANSWER_TIMEOUT = 60.0
SECTION = f"one share, {MEMBERS} members (notify)"


async def _members(stack: ServerStack) -> tuple[str, list[str]]:
    """The owner's token and each member's, the share made and every invitation accepted."""
    owner = await stack.new_account(devices=1)
    members = [await stack.new_account(devices=1) for _ in range(MEMBERS)]
    async with stack.client(owner.tokens[0]) as c:
        await c.mkdir("/Team")
        await c.shares.create("/Team")
        invitations = [await c.shares.invite("/Team", m.user, "editor") for m in members]
    for m, inv in zip(members, invitations, strict=True):
        async with stack.client(m.tokens[0]) as mc:
            await mc.shares.accept(inv.id)
    return owner.tokens[0], [m.tokens[0] for m in members]


async def shared_round(stack: ServerStack) -> dict[str, Any]:
    owner, tokens = await _members(stack)
    requests = []
    for token in tokens:
        async with stack.client(token) as c:
            url, cursor = URL(await c.longpoll_url()), await c.latest_cursor()
        requests.append(rawpoll.build_request(str(url), {"cursor": cursor, "timeout": str(LONGPOLL_MIN * 4)}, token))
    polls: list[rawpoll.RawPoll] = []
    connects = []
    for request in requests:
        opened, tasks = await rawpoll.open_polls(url.host or "127.0.0.1", url.port or 80, request, 1, 1)
        polls += opened
        connects += tasks
    try:
        await asyncio.gather(*connects)
        await asyncio.sleep(1.0)  # every poll registered
        async with stack.client(owner) as writer:
            early, t0, _ = await rawpoll.commit_and_wait(polls, lambda: writer.mkdir("/Team/woken"), ANSWER_TIMEOUT)
    finally:
        for p in polls:
            p.close()
    latencies = sorted(p.answered - t0 for p in polls if p.outcome() == "changes" and p.answered is not None)
    return {"members": MEMBERS, "answered_before_commit": early, "woken": len(latencies),
            "latency": summarize(latencies), "latencies_s": latencies}  # fmt: skip


def report(result: ScenarioResult, s: dict[str, Any]) -> None:
    lat = s["latency"]
    result.row(SECTION, "answered before the commit", s["answered_before_commit"], note="should be 0")
    result.row(SECTION, "members woken by one commit in the share", s["woken"], note=f"of {s['members']}")
    result.row(SECTION, "commit to answer, p50", lat["p50"] * 1000, "ms")
    result.row(SECTION, "commit to answer, p99", lat["p99"] * 1000, "ms")
    result.row(SECTION, "commit to answer, max", lat["max"] * 1000, "ms")
    result.summary["shared 50"] = {k: v for k, v in s.items() if k != "latencies_s"}
    result.targets.append(
        Target(f"a share's commit wakes its {MEMBERS} members, p99 < 200 ms", lat["p99"] * 1000, "<=", P99_TARGET_MS,
               "ms", f"{s['woken']} of {s['members']} woken; p50 {lat['p50'] * 1000:.0f} ms")  # fmt: skip
    )
