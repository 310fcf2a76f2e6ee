"""The change feed: cursors, pages of changes, and long-polls, woken through PostgreSQL
LISTEN/NOTIFY (the notifier) and held on the aiohttp route or on the notify endpoint.
"""
