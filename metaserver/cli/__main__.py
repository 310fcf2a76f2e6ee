"""``python -m metaserver.cli``: the ``tessera-server`` command."""

from .main import main

main()
