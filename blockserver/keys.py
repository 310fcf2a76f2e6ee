"""Typed keys of what a block server application holds (``app[KEY]``)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from metaserver.core.settings import ServerSettings

from .binding import StoreBinding
from .metrics import BlockMetrics
from .settings import BlockServerSettings
from .slots import PutSlots
from .stores.base import BlockStore

#: the settings both servers take (the same key as the metadata server's)
SETTINGS = web.AppKey("settings", ServerSettings)
#: the block server's own settings, read from ``SETTINGS`` once
BLOCK_SETTINGS = web.AppKey("block_settings", BlockServerSettings)
#: the asyncpg pool (a cleanup_ctx: open while the app runs)
POOL = web.AppKey("pool", asyncpg.Pool)
#: the object store holding the blocks (a cleanup_ctx: started while the app runs)
STORE = web.AppKey("store", BlockStore)
#: the store's binding to the deployment (made at start, or retried while the store is unreachable)
BINDING = web.AppKey("binding", StoreBinding)
#: bounds the block PUTs received at once (and so the memory they hold), and each user's share
PUT_SLOTS = web.AppKey("put_slots", PutSlots)
#: the block server's metrics (also under ``metaserver.core.metrics.METRICS``, which /metrics reads)
BLOCK_METRICS = web.AppKey("block_metrics", BlockMetrics)
