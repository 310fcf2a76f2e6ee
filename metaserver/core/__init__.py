"""What both servers stand on: settings, the database (pool, migrations, embedded
PostgreSQL), who is calling (tokens, passwords, users), rate limits, the HTTP plumbing every
route uses (error middleware, body reading, answers) and the block grants the metadata
server signs and the block server checks; and what operators see of every server:
:mod:`.metrics` (a Prometheus registry per app, ``/metrics``), :mod:`.health` (liveness,
readiness), :mod:`.requestlog` (one access line per request, the ``X-Request-Id``) and
:mod:`.tls` (HTTPS without a proxy).

Imports nothing from the rest of :mod:`metaserver`.
"""
