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
    )


# -- messages (protocol/messages/): values as a server or a client would make them ----------------

from protocol import hashing  # noqa: E402
from protocol.messages import auth, blocks, changes, files, incoming, links, uploads  # noqa: E402

counts = st.integers(min_value=0, max_value=2**40)
revs = st.integers(min_value=1, max_value=2**62)
#: Unix seconds, as floats (the servers send timestamps as floats)
times = st.floats(min_value=0, max_value=2**34, allow_nan=False, allow_infinity=False)
names = st.text(max_size=20)
urls = st.lists(st.sampled_from(["http://127.0.0.1:8081", "https://blocks.example:443"]), max_size=3)


@st.composite
def metadata(draw: st.DrawFn, kind: str | None = None) -> files.Metadata:
    kind = kind or draw(st.sampled_from(files.KINDS))
    path = draw(valid_paths(1, 4))
    name = path.rsplit("/", 1)[-1]
    if kind != "file":
        return files.Metadata(kind, path, name)  # type: ignore[arg-type]
    return files.Metadata(
        "file", path, name, draw(revs), draw(counts), draw(hex_digests_sha256), draw(times),
        draw(names), draw(st.none() | times),
    )  # fmt: skip


list_pages = st.builds(files.ListPage, st.lists(metadata(), max_size=5), st.none() | names, st.booleans())
revisions = st.builds(
    files.Revisions, valid_paths(1, 3), st.booleans(), st.none() | revs, st.lists(metadata("file"), max_size=4)
)
logins = st.builds(auth.Login, names, names, names)
accounts = st.builds(auth.Account, names, revs, names, st.none() | counts, counts)
devices = st.builds(auth.Device, revs, names, times, times, st.booleans())
device_lists = st.builds(auth.Devices, st.lists(devices, max_size=4))
revocations = st.builds(auth.DeviceRevoked, revs, st.booleans())
password_changes = st.builds(auth.PasswordChanged, counts)
changes_pages = st.builds(changes.ChangesPage, st.lists(metadata(), max_size=5), names, st.booleans(), st.booleans())
long_polls = st.builds(changes.LongPoll, st.booleans(), st.none() | st.integers(0, 600) | times)

remote_blocks = st.builds(
    blocks.RemoteBlock, st.integers(0, 2**31), block_ids, st.integers(1, BLOCK_SIZE), hex_digests_md5,
    hex_digests_sha256, names,
)  # fmt: skip
block_pages = st.builds(
    blocks.BlockPage, revs, valid_paths(1, 3), counts, hex_digests_sha256,
    modified=st.none() | times, client_modified=st.none() | times, total=st.integers(0, 2**31),
    start=st.integers(0, 2**31), blocks=st.lists(remote_blocks, max_size=4), block_servers=urls,
)  # fmt: skip

block_hashes = st.builds(hashing.BlockHash, st.integers(1, BLOCK_SIZE), hex_digests_md5, hex_digests_sha256)


@st.composite
def upload_requests(draw: st.DrawFn) -> uploads.UploadRequest:
    """A request the server takes: blocks of the 4 MiB split, and (when the list is complete)
    the content hash the server computes, so that reading it back gives it unchanged."""
    n = draw(st.integers(0, 3))
    last = draw(st.integers(1, BLOCK_SIZE))
    sizes = [BLOCK_SIZE] * (n - 1) + [last] if n else []
    listed = [hashing.BlockHash(size, draw(hex_digests_md5), draw(hex_digests_sha256)) for size in sizes]
    complete = draw(st.booleans())
    if not complete:
        listed = listed[: draw(st.integers(0, n))]
    mode = draw(st.sampled_from(uploads.UPLOAD_MODES))
    return uploads.UploadRequest(
        draw(valid_paths(1, 3)),
        sum(sizes),
        listed,
        hashing.content_hash(b.sha256 for b in listed) if complete else None,
        mode,
        draw(revs) if mode == "update" else draw(st.none() | revs),
        draw(st.none() | st.floats(0, 32_503_680_000, allow_nan=False)),
        complete,
    )


blocks_parts = st.builds(
    uploads.BlocksPart, st.integers(0, 2**31 - 1), st.lists(block_hashes, min_size=1, max_size=4),
    st.none() | hex_digests_sha256,
)  # fmt: skip
upload_blocks = st.builds(
    uploads.UploadBlock, st.integers(0, 2**31), block_ids, st.sampled_from(["stored", "needed"]), st.none() | names
)


@st.composite
def upload_sessions(draw: st.DrawFn) -> uploads.UploadSession:
    complete = draw(st.booleans())
    listed = draw(st.lists(upload_blocks, max_size=4))
    return uploads.UploadSession(
        draw(block_ids), draw(valid_paths(1, 3)), draw(counts), draw(hex_digests_sha256) if complete else "",
        draw(times), draw(urls), listed, draw(st.integers(0, 4)), draw(st.integers(0, 2**31)), complete,
    )  # fmt: skip


incoming_uploads = st.builds(
    incoming.IncomingUpload, block_ids, valid_paths(1, 3), counts, hex_digests_sha256, st.integers(0, 2**31),
    st.integers(0, 2**31), st.none() | names, st.none() | times,
)  # fmt: skip


@st.composite
def incoming_blocks(draw: st.DrawFn) -> incoming.IncomingBlock:
    stored = draw(st.booleans())
    return incoming.IncomingBlock(
        draw(st.integers(0, 2**31)), draw(block_ids), draw(st.integers(1, BLOCK_SIZE)), draw(hex_digests_md5),
        draw(hex_digests_sha256), stored, draw(names) if stored else None,
    )  # fmt: skip


incoming_pages = st.builds(
    incoming.IncomingPage, block_ids, valid_paths(1, 3), counts, hex_digests_sha256, st.integers(0, 2**31),
    st.integers(0, 2**31), urls, st.lists(incoming_blocks(), max_size=4),
)  # fmt: skip

share_links = st.builds(
    links.Link, revs, valid_paths(0, 3), times, st.none() | times, st.booleans(), st.booleans(), st.none() | times,
    st.sampled_from(["active", "revoked", "expired"]), st.none() | st.sampled_from(["file", "folder"]),
)  # fmt: skip
new_links = st.builds(links.NewLink, share_links, names)
link_lists = st.builds(links.Links, st.lists(share_links, max_size=4))
revoked_links = st.builds(links.LinkRevoked, share_links)
