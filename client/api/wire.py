"""Reading the fields of a wire answer: each checked for its type, or a ProtocolError naming it.

The ``from_wire`` parsers of :mod:`client.api.models` and :mod:`client.api.incoming` are built
on these; ``what`` names the answer in the error message.
"""

from __future__ import annotations

from typing import Any, TypeVar

from protocol import paths
from protocol.errors import BadPath, ProtocolError

T = TypeVar("T")


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def get(
    obj: dict[str, Any], key: str, typ: type[T] | tuple[type, ...], what: str, *, optional: bool = False
) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
        raise ProtocolError(f"{what}: field {key!r} is missing or has the wrong type")
    return value


def path(obj: dict[str, Any], key: str, what: str) -> str:
    """A path field, checked against the path rules (no ``..``, no empty or control characters):
    a server's answer never makes the client reach outside the tree. ProtocolError otherwise."""
    try:
        return paths.normalize(get(obj, key, str, what))
    except BadPath as e:
        raise ProtocolError(f"{what}: field {key!r} is not a valid path: {e.message}") from None


def optional_float(obj: dict[str, Any], key: str, what: str) -> float | None:
    value = get(obj, key, (int, float), what, optional=True)
    return float(value) if value is not None else None


def get_list(obj: dict[str, Any], key: str, what: str) -> list[Any]:
    return get(obj, key, list, what)


def batch_results(answer: Any, key: str, count: int) -> list[dict[str, Any]]:
    """The ``key`` list of a batch answer: ``count`` objects, one per item asked for, in order."""
    results = answer.get(key) if isinstance(answer, dict) else None
    if (
        not isinstance(results, list)
        or len(results) != count
        or not all(isinstance(r, dict) for r in results)
    ):
        raise ProtocolError(f"the batch answer has no {key!r} list of {count} objects")
    return results
