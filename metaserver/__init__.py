"""The metadata server: users and tokens, upload sessions, versions, entries, the journal.

It also owns the database (schema, migrations, embedded PostgreSQL) and the
``tessera-server`` command that runs both servers.
"""
