"""Phone numbers: E.164, plus the local form (``09xxxxxxxxx``) read in a default country."""

from __future__ import annotations

import re

from models.common import E164, PHONE_SEPARATORS
from models.errors import InvalidPayload

# Country calling codes of the ISO 3166 codes DESKLINE_DEFAULT_COUNTRY accepts (or give "+NN" directly).
CALLING_CODES = {
    "AE": "971",
    "AR": "54",
    "AT": "43",
    "AU": "61",
    "BD": "880",
    "BE": "32",
    "BR": "55",
    "CA": "1",
    "CH": "41",
    "CN": "86",
    "DE": "49",
    "DK": "45",
    "EG": "20",
    "ES": "34",
    "ET": "251",
    "FI": "358",
    "FR": "33",
    "GB": "44",
    "GH": "233",
    "GR": "30",
    "ID": "62",
    "IE": "353",
    "IL": "972",
    "IN": "91",
    "IQ": "964",
    "IR": "98",
    "IT": "39",
    "JP": "81",
    "KE": "254",
    "KR": "82",
    "LK": "94",
    "MX": "52",
    "MY": "60",
    "NG": "234",
    "NL": "31",
    "NO": "47",
    "NZ": "64",
    "PH": "63",
    "PK": "92",
    "PL": "48",
    "PT": "351",
    "RU": "7",
    "SA": "966",
    "SE": "46",
    "TH": "66",
    "TR": "90",
    "TZ": "255",
    "UA": "380",
    "UG": "256",
    "US": "1",
    "VN": "84",
    "ZA": "27",
}


def calling_code(country: str) -> str:
    """Return the calling code (digits) of an ISO country code or a ``+NN`` code; ``ValueError`` if unknown."""
    value = country.strip().upper()
    if re.fullmatch(r"\+?[1-9]\d{0,2}", value):
        return value.lstrip("+")
    if value in CALLING_CODES:
        return CALLING_CODES[value]
    raise ValueError(
        f"unknown default country {country!r}: use an ISO code ({', '.join(sorted(CALLING_CODES))}) or +NN"
    )


def normalize_phone(raw: str, country_code: str | None) -> str:
    """Return ``raw`` in E.164: ``+...`` and ``00...`` are international, ``0...`` is local to ``country_code``.

    Without a ``country_code`` only international forms are accepted.
    """
    compact = PHONE_SEPARATORS.sub("", raw)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif compact.startswith("0") and country_code:
        compact = f"+{country_code}{compact[1:]}"
    if not E164.match(compact):
        raise InvalidPayload(
            "phone must be in E.164 form (+4915112345678) or local form (09121234567)",
            [{"field": "phone", "message": "not a phone number", "type": "value_error"}],
        )
    return compact
