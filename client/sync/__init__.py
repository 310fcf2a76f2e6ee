"""The sync daemon: keeps a local folder and the server's tree identical (see :mod:`client.sync.daemon`).

Its parts, each below the one before: the daemon, its rounds and their scheduling here;
:mod:`.execute` (carrying out a plan); :mod:`.remote` (the change feed, streaming prefetch);
:mod:`.local` (scans, the watcher, operations on the folder); :mod:`.state` (the three trees in
SQLite); :mod:`.plan` (the pure reconciler). The settings, status, lock and errors here are used
by all of them.
"""
