"""Typed keys of what a metadata server application holds (``app[KEY]``)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from .changes.notifier import Notifier
from .changes.notify_server import NotifyServer
from .core.passwords import HashQueue
from .core.settings import ServerSettings

SETTINGS = web.AppKey("settings", ServerSettings)
POOL = web.AppKey("pool", asyncpg.Pool)
NOTIFIER = web.AppKey("notifier", Notifier)
NOTIFY_SERVER = web.AppKey("notify_server", NotifyServer)
#: admission to the password hashing thread (logins, password changes)
PASSWORDS = web.AppKey("passwords", HashQueue)
