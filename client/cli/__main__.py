"""``python -m client.cli``: the ``tessera`` command line."""

from .main import main

main()
