"""``tessera-server``: the command line, the composition root that starts both servers.

The only part of :mod:`metaserver` that imports :mod:`blockserver` (the runner starts a block
server, ``gc``, ``backup`` and ``restore`` open the block store, the options check the block
server's settings). Settings come from flags, ``TESSERA_*`` variables and the TOML file of
:mod:`.config_file` (``config check``: :mod:`.config_cmd`); logging is set up in :mod:`.logs`.
"""
