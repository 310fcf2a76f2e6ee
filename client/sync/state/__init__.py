"""The sync daemon's state: the local, remote and synced trees, the block index and upload
records, in one SQLite database per synced folder."""
