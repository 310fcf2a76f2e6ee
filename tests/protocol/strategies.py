"""Hypothesis strategies for the protocol tests (in the manner of tahoe-lafs ``strategies.py``).

The path strategies build valid paths from their rules directly, without calling
:mod:`protocol.paths`, so the tests compare the module against an independent oracle.
"""

from __future__ import annotations

import unicodedata

from hypothesis import settings
from hypothesis import strategies as st

from protocol import grants
from protocol.hashing import BLOCK_SIZE

#: settings for the property tests: no deadline (CI machines stall), modest example counts
FAST = settings(deadline=None, max_examples=100)
QUICK = settings(deadline=None, max_examples=40)


def _valid_component(s: str) -> bool:
    return (
        s not in ("", ".", "..")
        and "/" not in s
        and not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in s)
        and not s.endswith(" ")
        and len(s.encode("utf-8")) <= 255
    )


#: characters a path component may hold: anything but "/", control characters and surrogates
component_chars = st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/")

#: one valid, NFC-normalised path component
components = (
    st.text(component_chars, min_size=1, max_size=12)
    .map(lambda s: unicodedata.normalize("NFC", s).rstrip(" "))
    .filter(_valid_component)
)


def valid_paths(min_depth: int = 0, max_depth: int = 5) -> st.SearchStrategy[str]:
    """Valid, normalised absolute paths; depth 0 is the root."""
    return st.lists(components, min_size=min_depth, max_size=max_depth).map(
        lambda parts: "/" + "/".join(parts)
    )


#: letters whose case variants casefold together (and ß / ẞ / SS, the three sigmas)
_CASEABLE = "abcxyzABCXYZ019-_.äÄéÉøØßẞσςΣωΩ"

caseable_paths = st.lists(
    st.text(st.sampled_from(_CASEABLE), min_size=1, max_size=8).filter(lambda s: s not in (".", "..")),
    min_size=1,
    max_size=4,
).map(lambda parts: "/" + "/".join(parts))


@st.composite
def case_variants(draw: st.DrawFn, path: str) -> str:
    """``path`` with each character independently upper- or lower-cased."""
    flips = draw(st.lists(st.booleans(), min_size=len(path), max_size=len(path)))
    return "".join(ch.upper() if up else ch.lower() for ch, up in zip(path, flips, strict=True))


#: JSON-compatible values within msgpack's integer range
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)

hex_digests_md5 = st.binary(min_size=16, max_size=16).map(bytes.hex)
hex_digests_sha256 = st.binary(min_size=32, max_size=32).map(bytes.hex)
block_ids = st.uuids().map(lambda u: u.hex)
#: fixed-length secrets: HMAC pads short keys with zeros, so b"k" and b"k\0" are the same key
grant_secrets = st.binary(min_size=32, max_size=32)


@st.composite
def grant_claims(draw: st.DrawFn) -> grants.Grant:
    op = draw(st.sampled_from([grants.PUT, grants.GET]))
    put = op == grants.PUT
    return grants.Grant(
        op=op,
        block_id=draw(block_ids),
        user_id=draw(st.integers(min_value=1, max_value=2**63 - 1)),
        size=draw(st.integers(min_value=1, max_value=BLOCK_SIZE)),
        md5=draw(hex_digests_md5) if put else "",
        sha256=draw(hex_digests_sha256) if put else "",
        expires_at=draw(st.integers(min_value=0, max_value=2**40)),
        ns_id=draw(st.integers(min_value=1, max_value=2**63 - 1)),
    )
