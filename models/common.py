"""Building blocks shared by every domain's payload models."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# The shape a phone field takes before ``auth.phones`` reads it (libphonenumber, in the default country):
# ``+`` or ``00`` and an international number, or a local number (``09121234567``, US ``2015550123``).
PHONE_INPUT = re.compile(r"^(?:\+[1-9]\d{6,14}|00[1-9]\d{6,14}|[0-9]\d{5,16})$")
PHONE_SEPARATORS = re.compile(r"[\s().-]")


class Payload(BaseModel):
    """Base of Deskline's own event payloads: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CompatPayload(BaseModel):
    """Base of Dowell-compatible payloads: extra fields old clients send are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=False)


class Document(BaseModel):
    """Base of stored documents returned to clients."""

    model_config = ConfigDict(extra="ignore")


def _check_phone(value: str) -> str:
    compact = PHONE_SEPARATORS.sub("", value)
    if not PHONE_INPUT.match(compact):
        raise ValueError("phone must be in E.164 form (+4915112345678) or local form (09121234567)")
    return compact


NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# A phone number as typed: the account service turns it into E.164 with the configured default country.
Phone = Annotated[str, AfterValidator(_check_phone)]
Limit = Annotated[int, Field(ge=1, le=100)]


def utc_now() -> datetime:
    """Return the current time in UTC (the default clock)."""
    return datetime.now(UTC)


def to_jsonable(value: Any) -> Any:
    """Turn models (and lists/dicts of them) into plain JSON-ready values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value
