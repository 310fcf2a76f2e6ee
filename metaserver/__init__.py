"""The metadata server: users and tokens, upload sessions, versions, entries, the journal.

Its subpackages, each importing only those before it:

- :mod:`.core`: what both servers stand on (settings, database, migrations, embedded
  PostgreSQL, authentication, rate limits, the HTTP plumbing, block grants)
- :mod:`.tree`: a namespace's tree (entries, mkdir/delete/move, history, the trash, usage
  counters) and its journal
- :mod:`.links`: share links (their tokens, and what a link reaches)
- :mod:`.search`: search by name over the namespaces a user sees (pg_trgm)
- :mod:`.uploads`: upload sessions (create, append, commit, batches, incoming)
- :mod:`.sharing`: shared folders (a user's paths resolved through their mounts, sharing and
  unsharing a folder, membership, moves between namespaces)
- :mod:`.changes`: the change feed, cursors and long-polls (the notifier, the notify endpoint)
- :mod:`.lifecycle`: retention (pruning old versions and expired trash, on an interval)
- :mod:`.web`: the aiohttp handlers; :mod:`.app` puts them together
- :mod:`.pages`: the web app (HTML pages under ``/``, their templates and scripts)
- :mod:`.cli`: ``tessera-server``, which starts both servers (the only part that imports
  :mod:`blockserver`)
"""
