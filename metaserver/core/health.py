"""Liveness and readiness, the same on every port (metadata, block, notify).

- ``GET /v1/health/live``: the process runs and its event loop answers; nothing else is
  checked (a load balancer or an orchestrator restarts a process that fails this).
- ``GET /v1/health/ready`` (and ``/v1/health``, as before): the process can serve:
  the database answers, and for a block server the block store takes a write, a read and a
  delete; for a metadata server also the journal listener (long-poll wake-ups) is up. 200
  ``{"ok": true, "checks": {...}}`` or 503 with the failing check's reason. Results are
  kept for a few seconds (:data:`READY_TTL`; a failure only :data:`RETRY_TTL`), so checks
  from many load balancers cost one probe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from protocol.errors import TesseraError

from . import db
from .http import respond
from .metrics import Metrics

#: seconds a passed readiness check is remembered
READY_TTL = 5.0
#: seconds a failed one is remembered (so recovery is seen soon)
RETRY_TTL = 1.0
#: seconds each check may take before it counts as failed
CHECK_TIMEOUT = 5.0

Check = Callable[[], Awaitable[None]]


def database_check(pool: Callable[[], object]) -> Check:
    """The database answers ``SELECT 1``."""

    async def check() -> None:
        async with db.connection(pool()) as conn:  # type: ignore[arg-type]
            await conn.fetchval("SELECT 1")

    return check


class Readiness:
    """Named checks (each raises when not ready), run together and remembered for a few seconds."""

    def __init__(self, metrics: Metrics | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.checks: dict[str, Check] = {}
        self._metrics = metrics
        self._clock = clock
        self._result: tuple[bool, dict[str, str]] | None = None
        self._until = 0.0
        self._running: asyncio.Future | None = None

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def result(self) -> tuple[bool, dict[str, str]]:
        """(ready, {check: "ok" or why not}), from the cache while it is fresh."""
        if self._result is not None and self._clock() < self._until:
            return self._result
        if self._running is None:  # one probe at a time; concurrent callers share it
            self._running = asyncio.ensure_future(self._run_checks())
        running = self._running
        try:
            return await asyncio.shield(running)
        finally:
            if running.done() and self._running is running:
                self._running = None

    async def _run_checks(self) -> tuple[bool, dict[str, str]]:
        names = list(self.checks)
        outcomes = await asyncio.gather(*(self._one(self.checks[n]) for n in names))
        report = dict(zip(names, outcomes, strict=True))
        ok = all(v == "ok" for v in outcomes)
        if self._metrics is not None:
            for name, outcome in report.items():
                self._metrics.ready.labels(name).set(1 if outcome == "ok" else 0)
        self._result = (ok, report)
        self._until = self._clock() + (READY_TTL if ok else RETRY_TTL)
        return self._result

    @staticmethod
    async def _one(check: Check) -> str:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await check()
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT:g} s"
        except TesseraError as e:
            return e.message
        except Exception as e:  # a probe's failure is the answer, whatever it is
            return f"{type(e).__name__}: {e}"
        return "ok"


READINESS = web.AppKey("readiness", Readiness)


async def live(request: web.Request) -> web.Response:
    """``GET /v1/health/live``."""
    return respond(request, {"ok": True})


async def ready(request: web.Request) -> web.Response:
    """``GET /v1/health/ready`` and ``GET /v1/health``: 200 when every check passes, else 503."""
    ok, checks = await request.app[READINESS].result()
    body = {"ok": ok, "checks": checks}
    if not ok:
        body["error"] = {"code": "unavailable", "message": "not ready: " + "; ".join(
            f"{name}: {why}" for name, why in checks.items() if why != "ok"
        )}  # fmt: skip
    return respond(request, body, status=200 if ok else 503)


def add_routes(router: web.UrlDispatcher) -> None:
    """The health and metrics routes every aiohttp server has."""
    from .metrics import metrics_handler

    router.add_get("/v1/health", ready)
    router.add_get("/v1/health/live", live)
    router.add_get("/v1/health/ready", ready)
    router.add_get("/metrics", metrics_handler)
