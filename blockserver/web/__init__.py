"""The block server's aiohttp handlers; :mod:`blockserver.app` adds them to the router."""
