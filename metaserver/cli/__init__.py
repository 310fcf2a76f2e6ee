"""``tessera-server``: the command line, the composition root that starts both servers.

The only part of :mod:`metaserver` that imports :mod:`blockserver` (the runner starts a block
server, ``gc`` opens the block store, the options check the block server's settings).
"""
