"""The synced folder on disk: scans into the local tree, the watcher, hashing of local files,
ignore rules, and the operations the executor performs on the folder."""
