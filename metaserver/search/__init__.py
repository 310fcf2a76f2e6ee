"""Search by name over everything a user can see (``GET /v1/search``).

- :mod:`.scope`: what a user sees, as (namespace, where it is mounted in their tree) pairs, and
  a ``--path`` folder turned into a filter per namespace;
- :mod:`.cursor`: the opaque, signed position of a page;
- :mod:`.query`: the SQL (pg_trgm over ``entries.name_fold``, migration 009) and the ranking.

Names are folded by :func:`protocol.search.fold`, which also says what matches and how matches
rank.
"""
