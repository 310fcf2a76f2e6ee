"""The block server: receives, verifies, stores and serves blocks, and collects the garbage.

- :mod:`.web`: the aiohttp handlers (single PUT/GET/HEAD, batch put, batch get);
  :mod:`.app` puts them together
- :mod:`.stores`: the object store interface and its backends (local disk, S3)
- :mod:`.gc`: garbage collection, run periodically by each block server
- :mod:`.access` (tokens and grants), :mod:`.settings`, :mod:`.keys`, :mod:`.sendfile`,
  :mod:`.threads`, :mod:`.metrics` (its Prometheus series)

It stands on :mod:`metaserver.core` (database, authentication, settings, HTTP plumbing) and
:mod:`protocol`; it never imports the client.
"""
