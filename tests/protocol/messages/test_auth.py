"""protocol/messages/auth.py: login and account."""

from __future__ import annotations

import pytest
from hypothesis import given

from protocol.errors import ProtocolError
from protocol.messages.auth import Account, Login

from .. import strategies as s
from .roundtrip import assert_round_trip

ACCOUNT = {"user": "alice", "user_id": 1, "device": "laptop", "quota_bytes": None, "used_bytes": 0}


@s.QUICK
@given(s.logins)
def test_login_round_trips(login):
    assert_round_trip(login)


@s.QUICK
@given(s.accounts)
def test_account_round_trips(account):
    assert_round_trip(account)


def test_account_json_output_is_the_wire_form_with_a_null_quota():
    assert Account.from_wire(ACCOUNT).to_json() == ACCOUNT
    assert Account.from_wire({k: v for k, v in ACCOUNT.items() if k != "quota_bytes"}).quota_bytes is None


@pytest.mark.parametrize(
    ("cls", "value", "message"),
    [
        (Login, "token", "login: expected an object, got str"),
        (Login, {"token": "t", "user": "u"}, "login: field 'device' is missing or has the wrong type"),
        (Login, {"token": 1, "user": "u", "device": "d"}, "login: field 'token'"),
        (Account, {**ACCOUNT, "user_id": "1"}, "account: field 'user_id'"),
        (Account, {**ACCOUNT, "quota_bytes": -0.5}, "account: field 'quota_bytes'"),
        (Account, {**ACCOUNT, "used_bytes": None}, "account: field 'used_bytes'"),
    ],
)
def test_malformed_answers_are_protocol_errors(cls, value, message):
    with pytest.raises(ProtocolError, match=message):
        cls.from_wire(value)
