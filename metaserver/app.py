"""The metadata server application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from . import db, web_auth, web_changes, web_files, web_files_batch, web_history, web_uploads
from .config import ServerConfig
from .notifier import Notifier
from .notify_server import NotifyServer
from .ratelimit import RATE_LIMITS, RateLimits, rate_limit_middleware
from .web_common import error_middleware, note_prepared
from .web_keys import CONFIG, NOTIFIER, NOTIFY_SERVER, POOL


def create_app(config: ServerConfig) -> web.Application:
    app = web.Application(
        client_max_size=config.max_meta_body, middlewares=[error_middleware, rate_limit_middleware]
    )
    app[CONFIG] = config
    app[RATE_LIMITS] = RateLimits.from_config(
        config.rate_limit, config.rate_burst, config.login_rate_limit, config.login_burst
    )
    app.on_response_prepare.append(note_prepared)

    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await db.create_pool(
            config.database_url, min_size=config.db_pool_min, max_size=config.db_pool_max
        )
        yield
        await app[POOL].close()

    async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
        app[NOTIFIER] = Notifier(config.database_url)
        await app[NOTIFIER].start()
        yield
        await app[NOTIFIER].close()

    async def notify_ctx(app: web.Application) -> AsyncIterator[None]:
        # the notify endpoint: long-polls on their own port, in this process and event loop
        app[NOTIFY_SERVER] = NotifyServer(app[POOL], app[NOTIFIER], app[RATE_LIMITS])
        await app[NOTIFY_SERVER].start(config.host, config.notify_port)
        yield
        await app[NOTIFY_SERVER].close()

    async def end_longpolls(app: web.Application) -> None:
        app[NOTIFY_SERVER].stop_accepting()
        app[NOTIFIER].begin_shutdown()

    app.on_shutdown.append(end_longpolls)
    app.cleanup_ctx.append(pool_ctx)
    app.cleanup_ctx.append(notifier_ctx)
    app.cleanup_ctx.append(notify_ctx)
    r = app.router
    r.add_get("/v1/health", web_auth.health)
    r.add_post("/v1/auth/login", web_auth.login)
    r.add_post("/v1/auth/logout", web_auth.logout)
    r.add_get("/v1/account", web_auth.account)
    r.add_post("/v1/uploads", web_uploads.create_upload)
    r.add_post("/v1/uploads/batch", web_uploads.create_upload_batch)
    r.add_post("/v1/uploads/commit_batch", web_uploads.commit_upload_batch)
    r.add_get("/v1/uploads/incoming", web_uploads.list_incoming)  # before {upload_id}
    r.add_get("/v1/uploads/incoming/{upload_id}", web_uploads.incoming_blocks)
    r.add_get("/v1/uploads/{upload_id}", web_uploads.upload_status)
    r.add_post("/v1/uploads/{upload_id}/blocks", web_uploads.append_blocks)
    r.add_post("/v1/uploads/{upload_id}/commit", web_uploads.commit_upload)
    r.add_get("/v1/changes", web_changes.list_changes)
    r.add_get("/v1/changes/latest_cursor", web_changes.latest_cursor)
    r.add_get("/v1/changes/longpoll", web_changes.longpoll)
    r.add_get("/v1/changes/notify", web_changes.notify_endpoint)
    r.add_get("/v1/files/meta", web_files.get_metadata)
    r.add_get("/v1/files/blocks", web_files.file_blocks)
    r.add_post("/v1/files/blocks_batch", web_files_batch.file_blocks_batch)
    r.add_get("/v1/files/list", web_files.list_folder)
    r.add_post("/v1/files/mkdir", web_files.mkdir)
    r.add_post("/v1/files/delete", web_files.delete)
    r.add_post("/v1/files/move", web_files.move)
    r.add_get("/v1/files/revisions", web_history.list_revisions)
    r.add_post("/v1/files/restore", web_history.restore)
    return app
