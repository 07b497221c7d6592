"""Phone numbers through libphonenumber: local forms read in the default country, E.164 out, the same errors."""

from __future__ import annotations

from typing import Any

import pytest

from auth.phones import default_region, normalize_phone
from models.errors import InvalidPayload

PASSWORD = "correct horse battery"
FAST_ARGON = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("09121234567", "IR", "+989121234567"),
        ("0912 123-4567", "IR", "+989121234567"),
        ("0098 912 123 4567", "IR", "+989121234567"),
        ("0151 1234 5678", "DE", "+4915112345678"),
        ("030 901820", "DE", "+4930901820"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("1 201 555 0123", "US", "+12015550123"),
        ("07911 123456", "GB", "+447911123456"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("098765 43210", "IN", "+919876543210"),
        ("06 1234 5678", "IT", "+390612345678"),  # Italy keeps its leading 0: the old table dropped it
        ("+49 151 1234 5678", "IR", "+4915112345678"),  # international forms ignore the default country
        ("+44 7911 123456", None, "+447911123456"),
    ],
)
def test_numbers_read_in_their_country_come_out_in_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("0123", "IR"),  # too short
        ("0912123456789012", "IR"),  # too long
        ("912 123 4567", "IR"),  # a local number without its trunk prefix 0
        ("+0912", "IR"),  # no country code after +
        ("+98 912", "IR"),
        ("+1 555 123 4567", "US"),  # 555 is no US area code
        ("01511 234", "DE"),
        ("1800FLOWERS", "US"),  # letters are never read as digits
        ("09121234567", None),  # a local number with no default country
        ("07700 900123", "GB"),  # Ofcom's range for drama: not a real number
    ],
)
def test_invalid_numbers_keep_the_invalid_payload_shape(raw: str, region: str | None) -> None:
    with pytest.raises(InvalidPayload) as caught:
        normalize_phone(raw, region)
    assert caught.value.details == [{"field": "phone", "message": "not a phone number", "type": "value_error"}]


def test_a_lookup_only_needs_a_possible_number() -> None:
    """An account stored before libphonenumber (the old length check only) still finds itself at login."""
    assert normalize_phone("+15551234567", "US", strict=False) == "+15551234567"
    with pytest.raises(InvalidPayload):
        normalize_phone("+1555123", "US", strict=False)


@pytest.mark.parametrize(
    ("setting", "region"),
    [("IR", "IR"), ("de", "DE"), (" us ", "US"), ("IN", "IN"), ("BT", "BT"), ("+98", "IR"), ("44", "GB"), ("+1", "US")],
)
def test_every_iso_country_or_calling_code_is_a_default_country(setting: str, region: str) -> None:
    assert default_region(setting) == region


@pytest.mark.parametrize("setting", ["XX", "Iran", "+999", "", "+0"])
def test_an_unknown_default_country_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="unknown default country"):
        default_region(setting)


@pytest.mark.parametrize(
    ("country", "typed", "e164"),
    [
        ("US", "(201) 555-0123", "+12015550123"),
        ("GB", "07911 123456", "+447911123456"),
        ("IN", "098765 43210", "+919876543210"),
    ],
)
async def test_accounts_take_local_numbers_of_any_default_country(
    start_server: Any, country: str, typed: str, e164: str
) -> None:
    server = await start_server("sqlite", default_country=country, sms_provider="log", **FAST_ARGON)
    anon = await server.client()
    made = await anon.ok("register", {"phone": typed, "name": "Local", "password": PASSWORD})
    assert made["user"]["phone"] == e164
    pair = await (await server.client()).ok("login", {"phone": e164, "password": PASSWORD})
    assert pair["user"]["id"] == made["user"]["id"]
    error = await anon.error("register", {"phone": "0123456", "name": "Bad", "password": PASSWORD}, "invalid_payload")
    assert error["details"] == [{"field": "phone", "message": "not a phone number", "type": "value_error"}]
    code = await anon.ok("request_login_code", {"phone": typed})
    assert code["phone"] == e164
