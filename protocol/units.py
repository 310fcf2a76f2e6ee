"""Human byte sizes: ``10G`` → 10737418240 and back."""

from __future__ import annotations

import re

from .errors import BadRequest

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Parse ``123``, ``4K``, ``1.5G``, ``10GiB`` (binary units) into bytes."""
    m = _SIZE.match(text)
    if not m:
        raise BadRequest(f"not a size: {text!r} (try 500M, 10G, 1T)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def format_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")
