"""``tessera-server gc`` is tested on the garbage collection tests' servers and store."""

from tests.blockserver.gc.conftest import env  # noqa: F401
