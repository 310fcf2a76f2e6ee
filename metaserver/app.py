"""The metadata server application: routes, middleware and the resources it holds (the pool,
the journal listener, the notify endpoint), each a ``cleanup_ctx`` of ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from .changes.notifier import Notifier
from .changes.notify_server import NotifyServer
from .core import db
from .core.http import error_middleware, note_prepared
from .core.ratelimit import RATE_LIMITS, RateLimits, rate_limit_middleware
from .core.settings import ServerSettings
from .keys import NOTIFIER, NOTIFY_SERVER, POOL, SETTINGS
from .web import auth, changes, files, files_batch, history, search, uploads


def create_app(settings: ServerSettings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_meta_body, middlewares=[error_middleware, rate_limit_middleware]
    )
    app[SETTINGS] = settings
    app[RATE_LIMITS] = RateLimits.from_rates(
        settings.rate_limit, settings.rate_burst, settings.login_rate_limit, settings.login_burst
    )
    app.on_response_prepare.append(note_prepared)

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await db.create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        yield
        await app[POOL].close()

    async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
        app[NOTIFIER] = Notifier(settings.database_url)
        await app[NOTIFIER].start()
        yield
        await app[NOTIFIER].close()

    async def notify_ctx(app: web.Application) -> AsyncIterator[None]:
        # the notify endpoint: long-polls on their own port, in this process and event loop
        app[NOTIFY_SERVER] = NotifyServer(app[POOL], app[NOTIFIER], app[RATE_LIMITS])
        await app[NOTIFY_SERVER].start(settings.host, settings.notify_port)
        yield
        await app[NOTIFY_SERVER].close()

    async def end_longpolls(app: web.Application) -> None:
        app[NOTIFY_SERVER].stop_accepting()
        app[NOTIFIER].begin_shutdown()

    app.on_shutdown.append(end_longpolls)
    app.cleanup_ctx.append(pool_ctx)
    app.cleanup_ctx.append(notifier_ctx)
    app.cleanup_ctx.append(notify_ctx)
    _add_routes(app.router)
    return app


def _add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/v1/health", auth.health)
    r.add_post("/v1/auth/login", auth.login)
    r.add_post("/v1/auth/logout", auth.logout)
    r.add_get("/v1/account", auth.account)
    r.add_post("/v1/uploads", uploads.create_upload)
    r.add_post("/v1/uploads/batch", uploads.create_upload_batch)
    r.add_post("/v1/uploads/commit_batch", uploads.commit_upload_batch)
    r.add_get("/v1/uploads/incoming", uploads.list_incoming)  # before {upload_id}
    r.add_get("/v1/uploads/incoming/{upload_id}", uploads.incoming_blocks)
    r.add_get("/v1/uploads/{upload_id}", uploads.upload_status)
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
    r.add_get("/v1/files/revisions", history.list_revisions)
    r.add_post("/v1/files/restore", history.restore)
    r.add_get("/v1/search", search.search)
