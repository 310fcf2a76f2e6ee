"""Typed application keys of the metadata server."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from .config import ServerConfig

CONFIG = web.AppKey("config", ServerConfig)
POOL = web.AppKey("pool", asyncpg.Pool)
