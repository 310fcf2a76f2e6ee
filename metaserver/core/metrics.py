"""Prometheus metrics: the series every server exposes at ``GET /metrics``, in a registry per app.

Each application (``create_app``) builds its own :class:`Metrics` (the block server a
:class:`blockserver.metrics.BlockMetrics`, the metadata server a :class:`MetaMetrics`) with a
:class:`prometheus_client.CollectorRegistry` of its own: nothing is registered in the
module-level default registry, so two servers in one process (``tessera-server run``, the
tests) never share or double-count a series.

Labels have bounded values: ``route`` is the route's template (``/v1/blocks/{block_id}``,
``unmatched`` for a path no route matches), never the raw path; ``status`` an HTTP status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

#: request latency buckets (seconds): metadata requests take milliseconds, block transfers seconds
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: the route label of a request no route matched
UNMATCHED = "unmatched"


def route_of(request: web.Request) -> str:
    """The route template of ``request`` (bounded cardinality), or ``unmatched``."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return UNMATCHED
    return resource.canonical


class _PoolCollector:
    """The asyncpg pool's size, connections in use, and requests waiting for one, read at scrape time."""

    def __init__(self, pool: Callable[[], object | None]) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self._pool()
        size = in_use = waiting = 0
        if pool is not None:
            size = pool.get_size()  # type: ignore[attr-defined]
            in_use = size - pool.get_idle_size()  # type: ignore[attr-defined]
            waiting = getattr(pool, "waiting", 0)
        yield GaugeMetricFamily("tessera_db_pool_connections", "Connections the pool holds open", value=size)
        yield GaugeMetricFamily("tessera_db_pool_in_use", "Pool connections lent to a request", value=in_use)
        yield GaugeMetricFamily("tessera_db_pool_waiting", "Requests waiting for a pool connection", value=waiting)


#: the ``limit`` label of a 429 on these routes (any other: ``token``)
_LIMIT_OF_ROUTE = {"/v1/auth/login": "login", "/v1/search": "search"}


class Metrics:
    """The series both servers have: HTTP requests, bytes, rate-limit refusals, readiness, the pool."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)  # memory, CPU, open files of this process
        self.requests = Counter(
            "tessera_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "tessera_http_request_duration_seconds",
            "Time from a request's arrival until its handler returned",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bytes_in = Counter("tessera_http_received_bytes", "Request body bytes received", ["route"], registry=r)
        self.bytes_out = Counter("tessera_http_sent_bytes", "Response body bytes sent", ["route"], registry=r)
        self.rate_limited = Counter(
            "tessera_rate_limited", "Requests refused with 429 rate_limited", ["limit"], registry=r
        )
        self.db_unavailable = Counter(
            "tessera_db_unavailable", "Requests that found the database unreachable (answered 503)", registry=r
        )
        self.ready = Gauge(
            "tessera_ready", "Result of the last readiness check (1 ready, 0 not), by check", ["check"], registry=r
        )
        self._pool: object | None = None
        r.register(_PoolCollector(lambda: self._pool))

    def watch_pool(self, pool: object | None) -> None:
        """Report this pool's connections (None: stop, at shutdown)."""
        self._pool = pool

    def observe_request(
        self, method: str, route: str, status: int, seconds: float, bytes_in: int, bytes_out: int
    ) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if bytes_in:
            self.bytes_in.labels(route).inc(bytes_in)
        if bytes_out:
            self.bytes_out.labels(route).inc(bytes_out)
        if status == 429:
            self.rate_limited.labels(_LIMIT_OF_ROUTE.get(route, "token")).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetaMetrics(Metrics):
    """The metadata server's series: commits, long-polls, the notify endpoint."""

    def __init__(self) -> None:
        super().__init__()
        r = self.registry
        self.commits = Counter("tessera_commits", "Upload commits, by result", ["result"], registry=r)
        self.commit_latency = Histogram(
            "tessera_commit_duration_seconds", "Time to commit an upload (or a batch of them)", ["kind"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.longpolls_held = Gauge(
            "tessera_longpolls_held", "Long-polls held now (notify endpoint and metadata port)", registry=r
        )
        self.wakeups = Histogram(
            "tessera_longpoll_wakeup_seconds",
            "From a journal NOTIFY reaching this process until every long-poll it woke was answered",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.polls_woken = Counter("tessera_longpolls_woken", "Long-polls woken by a commit", registry=r)
        self.notify_requests = Counter(
            "tessera_notify_requests", "Requests answered by the notify endpoint", ["route", "status"], registry=r
        )
        self.notify_listener_up = Gauge(
            "tessera_journal_listener_up", "Whether the LISTEN connection for long-poll wake-ups is up", registry=r
        )
        self.prune_runs = Counter("tessera_prune_runs", "Pruning runs, by result", ["result"], registry=r)
        self.prune_versions = Counter(
            "tessera_prune_versions", "Old versions pruned (thinned or past retention)", registry=r
        )
        self.prune_files_purged = Counter(
            "tessera_prune_files_purged", "Files purged from the trash past retention", registry=r
        )
        self.prune_freed_bytes = Counter(
            "tessera_prune_freed_bytes", "Bytes of blocks that lost their last reference by pruning", registry=r
        )

    def prune_report(self, report) -> None:
        """One periodic pruning's report (None: another process held the lock; an exception: it failed)."""
        if isinstance(report, BaseException):
            self.prune_runs.labels("failed").inc()
            return
        if report is None:
            self.prune_runs.labels("skipped").inc()
            return
        self.prune_runs.labels("ok").inc()
        self.prune_versions.inc(report.versions_pruned)
        self.prune_files_purged.inc(report.files_purged)
        self.prune_freed_bytes.inc(report.bytes_freed)

    @contextmanager
    def commit(self, kind: str) -> Iterator[None]:
        """Time one commit request (``kind``: single or batch) and count its result (ok, conflict,
        error); a batch that succeeds counts its files with :meth:`count_batch` instead."""
        start = time.perf_counter()
        result = "error"
        try:
            yield
            result = "ok"
        except Exception as e:
            result = "conflict" if getattr(e, "code", None) == "conflict" else "error"
            raise
        finally:
            self.commit_latency.labels(kind).observe(time.perf_counter() - start)
            if kind != "batch" or result != "ok":
                self.commits.labels(result).inc()

    def count_batch(self, results: list) -> None:
        """The files of a committed batch: each one's answer is file metadata or ``{"error": ...}``."""
        for r in results:
            error = r.get("error") if isinstance(r, dict) else None
            if error is None:
                self.commits.labels("ok").inc()
            else:
                self.commits.labels("conflict" if error.get("code") == "conflict" else "error").inc()


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics``: the app's series in Prometheus' text format."""
    metrics = request.app[METRICS]
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


METRICS = web.AppKey("metrics", Metrics)
