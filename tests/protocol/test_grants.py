"""protocol/grants.py: signing and checking block grants, and block ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from protocol import codec, grants
from protocol.errors import BadRequest, Forbidden, GrantExpired
from protocol.grants import Grant

from . import strategies as s

SECRET = b"s" * 32
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64d(t: str) -> bytes:
    return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))


def split(token: str) -> tuple[bytes, bytes]:
    payload, mac = token.split(".")
    return b64d(payload), b64d(mac)


def signed(payload: bytes, secret: bytes = SECRET) -> str:
    """A token for any payload, correctly signed (as a buggy or older signer would make it)."""
    return f"{b64e(payload)}.{b64e(hmac.new(secret, payload, hashlib.sha256).digest())}"


def example(**kw) -> Grant:
    claims = dict(
        op=grants.PUT,
        block_id=uuid.UUID(int=1).hex,
        user_id=7,
        size=10,
        md5="a" * 32,
        sha256="b" * 64,
        expires_at=1000,
    )
    claims.update(kw)
    return Grant(**claims)


# --- sign / verify -------------------------------------------------------------------------


@s.FAST
@given(s.grant_claims(), s.grant_secrets)
def test_sign_verify_round_trip(grant, secret):
    token = grants.sign(grant, secret)
    assert TOKEN_RE.fullmatch(token)
    assert grants.verify(token, secret, now=grant.expires_at - 1) == grant


def test_get_grants_carry_no_hashes():
    g = example(op=grants.GET, md5="", sha256="")
    assert grants.verify(grants.sign(g, SECRET), SECRET, now=0) == g


def test_signing_is_deterministic_and_covers_every_claim():
    g = example()
    assert grants.sign(g, SECRET) == grants.sign(g, SECRET)
    variants = [
        example(op=grants.GET),
        example(block_id=uuid.UUID(int=2).hex),
        example(user_id=8),
        example(size=11),
        example(md5="c" * 32),
        example(sha256="c" * 64),
        example(expires_at=1001),
    ]
    tokens = {grants.sign(v, SECRET) for v in variants}
    assert len(tokens) == len(variants)
    assert grants.sign(g, SECRET) not in tokens


def test_expiry_boundary():
    g = example(expires_at=1000)
    token = grants.sign(g, SECRET)
    assert grants.verify(token, SECRET, now=999.9) == g
    assert grants.verify(token, SECRET, now=1000) == g  # valid through its expiry second
    with pytest.raises(GrantExpired) as info:
        grants.verify(token, SECRET, now=1000.001)
    assert info.value.code == "grant_expired"
    assert info.value.status == 403
    assert info.value.retryable


@s.FAST
@given(s.grant_claims(), st.floats(min_value=1e-3, max_value=1e9))
def test_expired_grants_are_refused(grant, late):
    with pytest.raises(GrantExpired):
        grants.verify(grants.sign(grant, SECRET), SECRET, now=grant.expires_at + late)


@s.FAST
@given(s.grant_claims(), st.data())
def test_tampering_with_any_payload_byte_is_forbidden(grant, data):
    payload, mac = split(grants.sign(grant, SECRET))
    i = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    bad = payload[:i] + bytes([payload[i] ^ flip]) + payload[i + 1 :]
    with pytest.raises(Forbidden):
        grants.verify(f"{b64e(bad)}.{b64e(mac)}", SECRET, now=0)


@s.FAST
@given(s.grant_claims(), st.data())
def test_tampering_with_any_mac_byte_is_forbidden(grant, data):
    payload, mac = split(grants.sign(grant, SECRET))
    i = data.draw(st.integers(min_value=0, max_value=len(mac) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    bad = mac[:i] + bytes([mac[i] ^ flip]) + mac[i + 1 :]
    with pytest.raises(Forbidden):
        grants.verify(f"{b64e(payload)}.{b64e(bad)}", SECRET, now=0)


@pytest.mark.parametrize("cut", ["drop_last", "empty", "extend"])
def test_mac_of_another_length_is_forbidden(cut):
    payload, mac = split(grants.sign(example(), SECRET))
    bad = {"drop_last": mac[:-1], "empty": b"", "extend": mac + b"\x00"}[cut]
    with pytest.raises(Forbidden):
        grants.verify(f"{b64e(payload)}.{b64e(bad)}", SECRET, now=0)


@s.FAST
@given(s.grant_claims(), s.grant_secrets, s.grant_secrets)
def test_another_secret_is_forbidden(grant, secret, other):
    assume(secret != other)
    with pytest.raises(Forbidden):
        grants.verify(grants.sign(grant, secret), other, now=0)


def test_an_expired_forgery_is_forbidden_not_expired():
    """The signature is checked first: a forger never learns about expiry."""
    token = grants.sign(example(expires_at=0), b"x" * 32)
    with pytest.raises(Forbidden):
        grants.verify(token, SECRET, now=10**9)


def test_swapping_payloads_between_grants_is_forbidden():
    a, b = grants.sign(example(user_id=1), SECRET), grants.sign(example(user_id=2), SECRET)
    with pytest.raises(Forbidden):
        grants.verify(a.split(".")[0] + "." + b.split(".")[1], SECRET, now=0)


@s.FAST
@given(st.text(max_size=200))
def test_garbage_text_is_forbidden(text):
    with pytest.raises(Forbidden):
        grants.verify(text, SECRET, now=0)


@s.FAST
@given(st.from_regex(r"[A-Za-z0-9_=-]{0,120}\.[A-Za-z0-9_=.-]{0,60}", fullmatch=True))
def test_garbage_in_token_shape_is_forbidden(text):
    with pytest.raises(Forbidden):
        grants.verify(text, SECRET, now=0)


@pytest.mark.parametrize("token", [None, 123, "", ".", "..", "abc", "a.b", "é.é", "\x00.\x00", "a" * 10_000])
def test_malformed_tokens_are_forbidden(token):
    with pytest.raises(Forbidden):
        grants.verify(token, SECRET, now=0)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xc1",
        codec.pack([]),
        codec.pack({"op": "put"}),
        codec.pack([1, "put", bytes(16), 7, 10, bytes(16), bytes(32), 1000, 3]),  # an older version
        codec.pack([3, "put", bytes(16), 7, 10, bytes(16), bytes(32), 1000, 3]),  # unknown version
        codec.pack([2, "put", bytes(16), 7, 10, bytes(16), bytes(32), 1000]),  # a claim missing
        codec.pack([2, "put", bytes(16), 7, 10, bytes(16), bytes(32), 1000, 3, 0]),  # one too many
        codec.pack([2, "put", bytes(16), "7", 10, bytes(16), bytes(32), None, 3]),  # wrong types
        codec.pack([2, "put", "not bytes", 7, 10, bytes(16), bytes(32), 1000, 3]),
    ],
)
def test_correctly_signed_but_malformed_payloads_are_forbidden(payload):
    with pytest.raises(Forbidden) as info:
        grants.verify(signed(payload), SECRET, now=0)
    assert info.value.code == "forbidden"


def test_a_hand_signed_payload_of_the_documented_shape_verifies():
    """The wire form is base64url(msgpack list) "." base64url(HMAC-SHA256), unpadded."""
    payload = codec.pack([2, "get", bytes.fromhex("ab" * 16), 7, 10, b"", b"", 1000, 5])
    assert grants.verify(signed(payload), SECRET, now=0) == Grant("get", "ab" * 16, 7, 10, "", "", 1000, 5)
    assert signed(payload) == grants.sign(Grant("get", "ab" * 16, 7, 10, "", "", 1000, 5), SECRET)


# --- canonical_block_id --------------------------------------------------------------------


@s.FAST
@given(st.uuids(), st.data())
def test_canonical_block_id_accepts_uuid_hex_in_any_case_and_with_dashes(u, data):
    forms = [u.hex, u.hex.upper(), str(u), str(u).upper()]
    flips = data.draw(st.lists(st.booleans(), min_size=36, max_size=36))
    forms.append("".join(c.upper() if f else c for c, f in zip(str(u), flips, strict=True)))
    for form in forms:
        assert grants.canonical_block_id(form) == u.hex


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "0" * 31,
        "0" * 33,
        "g" * 32,
        "0" * 31 + "z",
        "0x" + "0" * 30,  # int() would take these
        "+" + "1" * 31,
        "-" + "1" * 31 + "-",
        "0_" + "0" * 30,
        " " + "0" * 31,
        "0" * 31 + "\n",
        "\u0660" * 32,  # ARABIC-INDIC DIGIT ZERO
        "\uff10" * 32,  # FULLWIDTH DIGIT ZERO
        "{" + "0" * 32 + "}",
        "urn:uuid:" + "0" * 32,
        "../" + "0" * 29,
        "0" * 16 + "/" + "0" * 15,
    ],
)
def test_canonical_block_id_rejects_others(bad):
    with pytest.raises(BadRequest) as info:
        grants.canonical_block_id(bad)
    assert info.value.code == "bad_request"


@pytest.mark.parametrize("bad", [None, 1, b"0" * 32, uuid.UUID(int=0), ["0" * 32]])
def test_canonical_block_id_rejects_non_strings(bad):
    with pytest.raises(BadRequest):
        grants.canonical_block_id(bad)


@s.FAST
@given(
    st.text(alphabet=st.sampled_from("0123456789abcdefABCDEF-x_+ {}:\u0660g"), max_size=40)
    | st.text(max_size=40)
)
def test_canonical_block_id_is_the_dashless_lowercase_hex_or_nothing(text):
    try:
        got = grants.canonical_block_id(text)
    except BadRequest:
        assert not re.fullmatch(r"[0-9a-fA-F]{32}", text.replace("-", ""))
        return
    assert got == text.replace("-", "").lower()
    assert re.fullmatch(r"[0-9a-f]{32}", got)
