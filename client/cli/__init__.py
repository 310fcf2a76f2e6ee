"""The ``tessera`` command line (click): the root group and dispatcher in :mod:`.main`, one module
per group of subcommands, their shared context, output formatting and the saved credentials."""
