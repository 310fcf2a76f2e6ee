"""The block server application: routes, middleware and the resources it holds.

``create_app(settings)`` builds a fresh application; nothing lives at module
level. The asyncpg pool and the block store are ``cleanup_ctx`` entries, so
they exist exactly while the application runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from metaserver.core import db, health
from metaserver.core.bodies import body_limit_middleware
from metaserver.core.connections import connection_middleware
from metaserver.core.health import READINESS, Readiness, database_check
from metaserver.core.http import error_middleware, note_prepared
from metaserver.core.metrics import METRICS
from metaserver.core.requestlog import observe_middleware, send_request_id
from metaserver.core.settings import ServerSettings

from . import cors
from .binding import StoreBinding
from .gc import run_periodically
from .keys import BINDING, BLOCK_METRICS, BLOCK_SETTINGS, POOL, PUT_SLOTS, SETTINGS, STORE
from .metrics import BlockMetrics
from .settings import BlockServerSettings
from .slots import PutSlots
from .stores.base import BlockStore
from .stores.factory import store_from_settings
from .web import batch_get, batch_put, blocks

log = logging.getLogger(__name__)

#: no block server route reads a whole body into memory (blocks are streamed),
#: so anything asking to buffer more than this is refused
MAX_BUFFERED_BODY = 64 * 1024


def create_app(settings: ServerSettings, store: BlockStore | None = None) -> web.Application:
    """A block server for ``settings``.

    Without ``store``, the app builds the store the settings name, starts and closes it with
    itself, and binds it to the database's deployment first (:mod:`.binding`: a store of another
    deployment stops the start; one that cannot be reached leaves the server live but not ready,
    block requests 503, until a retry binds it). A ``store`` passed in is used as it is: its
    owner starts it before, binds it if it should be, and closes it after.
    """
    block_settings = BlockServerSettings.from_settings(settings)
    app = web.Application(
        middlewares=[
            observe_middleware, connection_middleware, error_middleware, body_limit_middleware, store_bound_middleware
        ],
        client_max_size=MAX_BUFFERED_BODY,
    )
    app[SETTINGS] = settings
    app[BLOCK_SETTINGS] = block_settings
    app[PUT_SLOTS] = PutSlots(
        block_settings.put_concurrency, block_settings.put_per_user, block_settings.put_queue_timeout
    )
    metrics = app[METRICS] = app[BLOCK_METRICS] = BlockMetrics()
    metrics.put_slots_in_use.set_function(lambda: app[PUT_SLOTS].in_use)
    app[READINESS] = _readiness(app, metrics)
    app.on_response_prepare.append(note_prepared)
    app.on_response_prepare.append(cors.add_cors_headers)
    app.on_response_prepare.append(send_request_id)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_block_store(store))
    app.cleanup_ctx.append(_garbage_collector)

    app.router.add_post("/v1/blocks/batch", batch_put.put_blocks)
    app.router.add_post("/v1/blocks/get_batch", batch_get.get_blocks)
    app.router.add_put("/v1/blocks/{block_id}", blocks.put_block)
    app.router.add_get("/v1/blocks/{block_id}", blocks.get_block)  # and HEAD
    app.router.add_route("OPTIONS", "/v1/blocks/{block_id}", cors.preflight)  # the web app's uploads
    health.add_routes(app.router)
    return app


def _readiness(app: web.Application, metrics: BlockMetrics) -> Readiness:
    """Ready: the database answers, and the store is bound and takes a probe object, gives it back
    and deletes it."""
    readiness = Readiness(metrics)
    readiness.add("database", database_check(lambda: app[POOL]))

    async def store() -> None:
        app[BINDING].check()
        await app[STORE].probe()

    readiness.add("store", store)
    return readiness


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    status = db.DatabaseStatus("block server: database")
    status.on_refused = app[BLOCK_METRICS].db_unavailable.inc
    pool = await db.create_pool(
        settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max, status=status
    )
    app[POOL] = pool
    app[BLOCK_METRICS].watch_pool(pool)
    try:
        yield
    finally:
        app[BLOCK_METRICS].watch_pool(None)
        await pool.close()


def _block_store(given: BlockStore | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def block_store(app: web.Application) -> AsyncIterator[None]:
        if given is not None:
            app[STORE] = given
            app[BINDING] = StoreBinding(app[POOL], given)
            app[BINDING].assume_bound()
            yield
            return
        store = store_from_settings(app[BLOCK_SETTINGS])
        await store.start()
        binding = app[BINDING] = StoreBinding(app[POOL], store)
        try:
            # this deployment's store, or refuse to start; one that cannot be reached yet: not ready
            await binding.start()
            app[STORE] = store
            yield
        finally:
            await binding.close()
            await store.close()

    return block_store


@web.middleware
async def store_bound_middleware(request: web.Request, handler):
    """Block requests wait for the store's binding (503 until it is made); health and metrics do not."""
    if request.path.startswith("/v1/blocks"):
        request.app[BINDING].check()
    return await handler(request)


async def _garbage_collector(app: web.Application) -> AsyncIterator[None]:
    """The periodic garbage collection task (this process owns the store it deletes from)."""
    block_settings = app[BLOCK_SETTINGS]
    if not block_settings.gc_interval:
        yield
        return

    async def collect() -> None:
        await app[BINDING].wait()  # never collect in a store not bound to this deployment
        await run_periodically(
            app[POOL], app[STORE], interval=block_settings.gc_interval, grace=block_settings.gc_grace,
            on_report=app[BLOCK_METRICS].gc_report,
        )

    task = asyncio.create_task(collect(), name="garbage-collector")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # run_periodically logs its own failures
