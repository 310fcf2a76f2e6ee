"""The metadata server application: routes, middleware and the resources it holds (the pool,
the journal listener, the notify endpoint), each a ``cleanup_ctx`` of ``create_app(settings)``;
the web app's pages (:mod:`.pages`) under ``/``, the API under ``/v1``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from .changes.notifier import Notifier
from .changes.notify_server import NotifyServer
from .core import db, health
from .core.bodies import add_large_body_slots, body_limit_middleware
from .core.connections import connection_middleware
from .core.health import READINESS, Readiness, database_check
from .core.http import error_middleware, note_prepared
from .core.metrics import METRICS, MetaMetrics
from .core.passwords import HashQueue
from .core.periodic import background
from .core.ratelimit import RATE_LIMITS, RateLimits, rate_limit_middleware
from .core.requestlog import observe_middleware, send_request_id
from .core.settings import ServerSettings
from .core.tls import server_ssl_context
from .keys import NOTIFIER, NOTIFY_SERVER, PASSWORDS, POOL, SETTINGS
from .lifecycle.periodic import run_periodically
from .pages import app as pages
from .web import (
    auth,
    changes,
    devices,
    files,
    files_batch,
    history,
    links,
    search,
    shares,
    trash,
    uploads,
    usage,
)

#: the request log and metrics outermost (they see every answer's final status), the connection
#: guard's "request in progress" around the rest; then the web app's (a page's errors as HTML, the
#: session cookie as the request's token after its CSRF check), so that body limits and the
#: per-token rate limit before any handler apply to pages and to browsers alike
MIDDLEWARES = (
    observe_middleware, connection_middleware, error_middleware, *pages.MIDDLEWARES, body_limit_middleware,
    rate_limit_middleware,
)  # fmt: skip


def create_app(settings: ServerSettings) -> web.Application:
    app = web.Application(client_max_size=settings.max_meta_body, middlewares=list(MIDDLEWARES))
    add_large_body_slots(app)
    app[SETTINGS] = settings
    app[RATE_LIMITS] = RateLimits.from_rates(
        settings.rate_limit,
        settings.rate_burst,
        settings.login_rate_limit,
        settings.login_burst,
        settings.login_address_rate_limit,
        settings.login_address_burst,
        search_rate=settings.search_rate_limit,
        search_burst=settings.search_burst,
    )
    metrics = app[METRICS] = MetaMetrics()
    status = db.DatabaseStatus("metadata server: database")
    status.on_refused = metrics.db_unavailable.inc
    app[READINESS] = _readiness(app, metrics)
    app.on_response_prepare.append(note_prepared)
    app.on_response_prepare.append(send_request_id)

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await db.create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max, status=status
        )
        metrics.watch_pool(app[POOL])
        yield
        metrics.watch_pool(None)
        await app[POOL].close()

    async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
        app[NOTIFIER] = Notifier(settings.database_url, metrics=metrics, status=status)
        metrics.longpolls_held.set_function(lambda: app[NOTIFIER].waiting)
        await app[NOTIFIER].start()
        yield
        await app[NOTIFIER].close()

    async def notify_ctx(app: web.Application) -> AsyncIterator[None]:
        # the notify endpoint: long-polls on their own port, in this process and event loop
        app[NOTIFY_SERVER] = NotifyServer(
            app[POOL], app[NOTIFIER], app[RATE_LIMITS], idle_expiry=settings.token_idle_expiry,
            metrics=metrics, readiness=app[READINESS], connection_limits=settings.connections,
        )  # fmt: skip
        ssl_context = server_ssl_context(settings.tls_cert, settings.tls_key)
        await app[NOTIFY_SERVER].start(settings.host, settings.notify_port, ssl=ssl_context)
        yield
        await app[NOTIFY_SERVER].close()

    app.on_shutdown.append(_end_longpolls)
    app.cleanup_ctx.append(pool_ctx)
    app.cleanup_ctx.append(_passwords_ctx)
    app.cleanup_ctx.append(notifier_ctx)
    app.cleanup_ctx.append(notify_ctx)
    app.cleanup_ctx.append(_pruner)
    _add_routes(app.router)
    pages.setup(app)
    return app


async def _pruner(app: web.Application) -> AsyncIterator[None]:
    """The periodic pruning task (retention: metaserver/lifecycle/); one run at a time cluster-wide."""
    settings = app[SETTINGS]
    if not settings.prune_interval:
        yield
        return
    async with background(
        run_periodically(
            app[POOL],
            interval=settings.prune_interval,
            default_days=settings.retention_days,
            on_report=app[METRICS].prune_report,
        ),
        "pruner",
    ):
        yield


async def _passwords_ctx(app: web.Application) -> AsyncIterator[None]:
    app[PASSWORDS] = HashQueue(app[SETTINGS].login_queue)
    await app[PASSWORDS].dummy()  # an unknown user name's hash, made before the first login
    yield


async def _end_longpolls(app: web.Application) -> None:
    app[NOTIFY_SERVER].stop_accepting()
    app[NOTIFIER].begin_shutdown()


def _readiness(app: web.Application, metrics: MetaMetrics) -> Readiness:
    """Ready: the database answers and the journal listener (long-poll wake-ups) is up."""
    readiness = Readiness(metrics)
    readiness.add("database", database_check(lambda: app[POOL]))

    async def journal_listener() -> None:
        if not app[NOTIFIER].connected:
            raise RuntimeError("the journal listener is not connected (long-polls wake late)")

    readiness.add("journal_listener", journal_listener)
    return readiness


def _add_routes(r: web.UrlDispatcher) -> None:
    health.add_routes(r)
    r.add_post("/v1/auth/login", auth.login)
    r.add_post("/v1/auth/logout", auth.logout)
    r.add_get("/v1/account", auth.account)
    r.add_post("/v1/auth/password", devices.change_password)
    r.add_get("/v1/devices", devices.list_devices)
    r.add_post("/v1/devices/revoke", devices.revoke_device)
    r.add_post("/v1/uploads", uploads.create_upload)
    r.add_post("/v1/uploads/batch", uploads.create_upload_batch)
    r.add_post("/v1/uploads/commit_batch", uploads.commit_upload_batch)
    r.add_get("/v1/uploads/incoming", uploads.list_incoming)  # before {upload_id}
    r.add_get("/v1/uploads/incoming/{upload_id}", uploads.incoming_blocks)
    r.add_get("/v1/uploads/{upload_id}", uploads.upload_status)
    r.add_delete("/v1/uploads/{upload_id}", uploads.abort_upload)
    r.add_post("/v1/uploads/{upload_id}/blocks", uploads.append_blocks)
    r.add_post("/v1/uploads/{upload_id}/commit", uploads.commit_upload)
    r.add_get("/v1/changes", changes.list_changes)
    r.add_get("/v1/changes/latest_cursor", changes.latest_cursor)
    r.add_get("/v1/changes/longpoll", changes.longpoll)
    r.add_get("/v1/changes/notify", changes.notify_endpoint)
    r.add_get("/v1/files/meta", files.get_metadata)
    r.add_get("/v1/files/blocks", files.file_blocks)
    r.add_post("/v1/files/blocks_batch", files_batch.file_blocks_batch)
    r.add_get("/v1/files/list", files.list_folder)
    r.add_post("/v1/files/mkdir", files.mkdir)
    r.add_post("/v1/files/delete", files.delete)
    r.add_post("/v1/files/move", files.move)
    r.add_post("/v1/files/copy", files.copy)
    r.add_get("/v1/files/revisions", history.list_revisions)
    r.add_post("/v1/files/restore", history.restore)
    r.add_get("/v1/trash", trash.list_trash)
    r.add_post("/v1/trash/restore", trash.restore)
    r.add_post("/v1/trash/purge", trash.purge)
    r.add_get("/v1/usage", usage.get_usage)
    shares.add_routes(r)
    r.add_get("/v1/search", search.search)
    links.add_routes(r)
