"""File times on the wire: an upload's ``client_modified`` (Unix seconds, the uploader's clock).

One rule for both sides: the server refuses a time outside it (400 ``bad_request``) and the
client does not send one (the file then gets the commit time on other devices).
"""

from __future__ import annotations

from typing import Any

#: the latest file time an upload may carry (the year 3000)
MAX_FILE_TIME = 32_503_680_000


def valid_file_time(value: Any) -> bool:
    """Whether ``value`` is a file time the server takes: a number of seconds in 0..:data:`MAX_FILE_TIME`."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= MAX_FILE_TIME
