"""Upload sessions: the request checks, create, status and commit, block lists in parts,
batches of many small files, and the pending uploads offered to the other devices.
"""
