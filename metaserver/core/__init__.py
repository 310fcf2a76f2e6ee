"""What both servers stand on: settings, the database (pool, migrations, embedded
PostgreSQL), who is calling (tokens, passwords, users), rate limits, the HTTP plumbing every
route uses (error middleware, body reading, answers) and the block grants the metadata
server signs and the block server checks.

Imports nothing from the rest of :mod:`metaserver`.
"""
