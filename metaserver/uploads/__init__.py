"""Upload sessions: create, status and commit, block lists in parts, batches of many small
files, and the pending uploads offered to the other devices. Their requests are read and
checked by :mod:`protocol.messages.uploads`.
"""
