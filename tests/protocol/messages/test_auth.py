"""protocol/messages/auth.py: login and account."""

from __future__ import annotations

import pytest
from hypothesis import given

from protocol.errors import ProtocolError
from protocol.messages.auth import Account, Device, DeviceRevoked, Devices, Login, PasswordChanged

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


@s.QUICK
@given(s.device_lists)
def test_the_device_list_round_trips(devices):
    assert_round_trip(devices)


@s.QUICK
@given(s.revocations, s.password_changes)
def test_revocations_and_password_changes_round_trip(revoked, changed):
    assert_round_trip(revoked)
    assert_round_trip(changed)


def test_a_device_is_printed_as_on_the_wire():
    wire = {"id": 3, "name": "laptop", "created": 1, "last_used": 2.5, "current": True}
    device = Devices.from_wire({"devices": [wire]}).devices[0]
    assert device == Device(3, "laptop", 1.0, 2.5, True) and device.to_json() == {**wire, "created": 1.0}


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
        (Devices, {"devices": {}}, "devices: field 'devices'"),
        (Devices, {"devices": [{"id": 1, "name": "d", "created": 1, "last_used": 1}]}, "device: field 'current'"),
        (Device, {"id": True, "name": "d", "created": 1, "last_used": 1, "current": False}, "device: field 'id'"),
        (Device, {"id": 1, "name": "d", "created": "x", "last_used": 1, "current": False}, "device: field 'created'"),
        (DeviceRevoked, {"revoked": 1}, "revoked device: field 'current'"),
        (PasswordChanged, {"signed_out": 1.0}, "password: field 'signed_out'"),
        (PasswordChanged, [], "password: expected an object, got list"),
    ],
)
def test_malformed_answers_are_protocol_errors(cls, value, message):
    with pytest.raises(ProtocolError, match=message):
        cls.from_wire(value)
