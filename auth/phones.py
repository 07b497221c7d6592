"""Phone numbers through libphonenumber (``phonenumbers``): E.164 out, local forms read in a default country."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

from models.common import PHONE_SEPARATORS
from models.errors import InvalidPayload

DIGITS = re.compile(r"^\+?\d+$")  # no letters: libphonenumber would read "1800FLOWERS" as a vanity number
NOT_A_NUMBER = "phone must be in E.164 form (+4915112345678) or local form (09121234567)"


def default_region(country: str) -> str:
    """Return the ISO region of ``DESKLINE_DEFAULT_COUNTRY`` (an ISO code, or ``+NN``); ``ValueError`` if unknown.

    ``+NN`` names the main country of that calling code (``+1`` → US, ``+44`` → GB, ``+7`` → RU).
    """
    value = country.strip().upper()
    if re.fullmatch(r"\+?[1-9]\d{0,2}", value):
        value = phonenumbers.region_code_for_country_code(int(value.lstrip("+")))
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default country {country!r}: use an ISO 3166 code (IR, DE, US...) or +NN")
    return value


def normalize_phone(raw: str, region: str | None, *, strict: bool = True) -> str:
    """Return ``raw`` in E.164, or raise ``InvalidPayload`` (a field error on ``phone``).

    ``+...`` and ``00...`` are international; anything else is a local number of ``region`` written as it is
    dialled there (with its trunk prefix: ``09121234567`` in IR, ``015112345678`` in DE, ``2015550123`` in the
    US). Without a ``region`` only international forms are accepted. ``strict`` asks libphonenumber whether the
    number exists (new accounts); otherwise its length must only be possible for its country (looking up an
    account, so a number stored before this check still finds its account).
    """
    compact = PHONE_SEPARATORS.sub("", raw)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    local = not compact.startswith("+")
    if not DIGITS.match(compact) or (local and not region):
        raise _invalid()
    try:
        number = phonenumbers.parse(compact, None if not local else region)
    except NumberParseException:
        raise _invalid() from None
    if local and compact not in _local_forms(number, region or ""):
        raise _invalid()
    good = phonenumbers.is_valid_number(number) if strict else phonenumbers.is_possible_number(number)
    if not good:
        raise _invalid()
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _local_forms(number: PhoneNumber, region: str) -> set[str]:
    """Return the digits a number of ``region`` is dialled with inside it (national format; trunk prefix + number)."""
    national = re.sub(r"\D", "", phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
    prefix = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix or ""
    return {national, prefix + phonenumbers.national_significant_number(number)}


def _invalid() -> InvalidPayload:
    return InvalidPayload(NOT_A_NUMBER, [{"field": "phone", "message": "not a phone number", "type": "value_error"}])
