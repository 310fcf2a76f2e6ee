"""protocol/errors.py: error kinds, their wire form and the client-side rebuild."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import codec, errors
from protocol.errors import ERRORS_BY_CODE, TesseraError, error_from_wire

from . import strategies as s

#: every error kind: the concrete classes of protocol.errors (the base is abstract)
KINDS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, TesseraError) and cls is not TesseraError and cls.__module__ == errors.__name__
]
API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"

detail_values = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k != "message"), s.json_values, max_size=4
)


def test_there_are_kinds():
    assert len(KINDS) >= 20


def test_codes_are_unique():
    codes = [cls.code for cls in KINDS]
    assert len(codes) == len(set(codes)), sorted(codes)


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.code)
def test_kind_is_well_formed(cls):
    assert re.fullmatch(r"[a-z][a-z_]*", cls.code)
    assert 400 <= cls.status <= 599
    assert cls.exit_code >= 1
    assert cls.__doc__ and cls.__doc__.strip()
    assert ERRORS_BY_CODE[cls.code] is cls
    err = cls()
    assert err.message == cls.__doc__.strip() == str(err)
    assert err.details == {}


def test_unexpected_errors_are_internal():
    assert TesseraError.code == errors.Internal.code == "internal"
    assert errors.Internal.status == 500


def test_codes_and_statuses_match_the_api_document():
    documented: dict[str, int] = {}
    for line in API_MD.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\|\s*(`.+?)\s*\|\s*(\d{3})(?:\s*/\s*\d{3})?\s*\|.*\|", line.strip())
        if m:
            for code in re.findall(r"`([a-z_]+)`", m.group(1)):
                documented[code] = int(m.group(2))
    by_code = {cls.code: cls for cls in KINDS}
    assert documented, "the error table in docs/api.md was not found"
    for code, status in documented.items():
        assert code in by_code, f"{code} is documented but not defined"
        assert by_code[code].status == status, code
    # protocol_error is made by the client for answers it cannot read; servers never send it
    assert set(by_code) - set(documented) == {"protocol_error"}


# --- wire form -----------------------------------------------------------------------------


def test_to_wire_shape():
    assert errors.NotFound().to_wire() == {"error": {"code": "not_found", "message": "Not found."}}
    assert errors.BlocksMissing("2 missing", missing=[0, 3]).to_wire() == {
        "error": {"code": "blocks_missing", "message": "2 missing", "details": {"missing": [0, 3]}}
    }


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.code)
def test_error_from_wire_round_trips_every_kind(cls):
    for err in (
        cls(),
        cls("custom message"),
        cls("with details", retry_after=2.5, missing=[1, 2], path="/a"),
    ):
        back = error_from_wire(cls.status, err.to_wire())
        assert type(back) is cls
        assert back.message == err.message
        assert back.details == err.details


@s.FAST
@given(
    st.sampled_from(KINDS),
    st.none() | st.text(min_size=1),
    detail_values,
    st.sampled_from(codec.CONTENT_TYPES),
)
def test_error_from_wire_round_trips_through_the_codec(cls, message, details, ctype):
    err = cls(message, **details)
    body = codec.decode(codec.encode(err.to_wire(), ctype), ctype)
    back = error_from_wire(cls.status, body)
    assert type(back) is cls
    assert back.message == err.message
    assert back.details == err.details
    assert back.retryable == err.retryable


def test_known_code_wins_over_status():
    body = errors.Conflict("edited elsewhere").to_wire()
    back = error_from_wire(500, body)
    assert type(back) is errors.Conflict and back.message == "edited elsewhere"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (411, errors.LengthRequired),
        (413, errors.BodyTooLarge),
        (415, errors.UnsupportedMediaType),
        (429, errors.RateLimited),
        (507, errors.QuotaExceeded),
        (500, errors.Unavailable),
        (502, errors.Unavailable),
        (503, errors.Unavailable),
        (504, errors.Unavailable),
        (599, errors.Unavailable),
        (405, errors.ProtocolError),
        (410, errors.ProtocolError),
        (418, errors.ProtocolError),
        (200, errors.ProtocolError),
        (302, errors.ProtocolError),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "no_such_code", "message": "?"}},
        {"error": {"code": 404, "message": "not a str"}},
        {"error": {"message": "no code"}},
        {"error": "not an object"},
        {"detail": "Not Found"},
        "<html>bad gateway</html>",
        b"\x00",
        None,
        [],
    ],
)
def test_unknown_code_falls_back_by_status(status, cls, body):
    back = error_from_wire(status, body)
    assert type(back) is cls
    assert str(status) in back.message


@pytest.mark.parametrize(
    "err",
    [
        {"code": "not_found"},
        {"code": "not_found", "message": None},
        {"code": "not_found", "message": 5},
        {"code": "not_found", "message": "x", "details": "not a dict"},
        {"code": "not_found", "message": "x", "details": None},
    ],
)
def test_sloppy_bodies_with_a_known_code(err):
    back = error_from_wire(404, {"error": err})
    assert type(back) is errors.NotFound
    assert back.message == (err["message"] if isinstance(err.get("message"), str) else "Not found.")
    assert back.details == {}


@pytest.mark.parametrize(
    "details",
    [{"message": "clash"}, {b"bytes key": 1}, {1: 2}, {"message": "clash", "ok": 1}],
)
def test_details_that_cannot_be_keywords_do_not_crash(details):
    back = error_from_wire(409, {"error": {"code": "conflict", "message": "m", "details": details}})
    assert type(back) is errors.Conflict
    assert back.message == "m"
    assert "message" not in back.details
    assert all(isinstance(k, str) for k in back.details)


@s.FAST
@given(
    st.integers(min_value=100, max_value=599),
    s.json_values
    | st.fixed_dictionaries({"error": s.json_values})
    | st.fixed_dictionaries(
        {
            "error": st.fixed_dictionaries(
                {"code": st.sampled_from([c.code for c in KINDS]) | st.text()},
                optional={
                    "message": s.json_values,
                    "details": s.json_values
                    | st.dictionaries(st.text(max_size=10), s.json_values, max_size=4),
                },
            )
        }
    ),
)
def test_error_from_wire_always_gives_a_domain_error(status, body):
    assert isinstance(error_from_wire(status, body), TesseraError)


# --- retrying ------------------------------------------------------------------------------


def test_retryable_kinds():
    assert errors.RateLimited.retryable
    assert errors.Unavailable.retryable
    assert {cls.code for cls in KINDS if cls.retryable} == {
        "rate_limited",
        "unavailable",
        "grant_expired",  # after fetching a fresh grant
        "protocol_error",
    }
    assert not TesseraError.retryable


def test_retryable_survives_the_wire():
    assert error_from_wire(429, errors.RateLimited(retry_after=3).to_wire()).retryable
    assert error_from_wire(503, errors.Unavailable().to_wire()).retryable
    assert error_from_wire(503, "<html>").retryable
    assert not error_from_wire(409, errors.Conflict().to_wire()).retryable
