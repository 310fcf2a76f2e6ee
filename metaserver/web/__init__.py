"""The metadata server's aiohttp handlers, one module per group of routes (see docs/api.md);
:mod:`metaserver.app` adds them to the router."""
