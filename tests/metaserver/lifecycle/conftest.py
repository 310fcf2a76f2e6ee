"""Pruning races garbage collection on the garbage collection tests' servers and stores."""

from tests.blockserver.conftest import aws_session  # noqa: F401
from tests.blockserver.gc.conftest import any_env, env  # noqa: F401
