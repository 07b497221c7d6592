"""Typed domain errors; each carries the stable code clients see in an error ack."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The closed set of error codes an ack can carry."""

    INVALID_PAYLOAD = "invalid_payload"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNKNOWN_EVENT = "unknown_event"
    INTERNAL = "internal"


class DesklineError(Exception):
    """A failure a client can be told about: a code, a sentence and optional details."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_error(self) -> dict[str, Any]:
        """Return the ``error`` object of an error ack."""
        return {"code": str(self.code), "message": self.message, "details": self.details}


class InvalidPayload(DesklineError):
    """The payload has wrong types, missing or unknown fields, or breaks a rule."""

    code = ErrorCode.INVALID_PAYLOAD


class UnreadablePayload(InvalidPayload):
    """The payload cannot be read as JSON: a binary value, or nesting too deep."""


class Unauthorized(DesklineError):
    """The caller is not signed in, or its credentials are wrong."""

    code = ErrorCode.UNAUTHORIZED


class Forbidden(DesklineError):
    """The caller is signed in but its role or ownership does not allow this."""

    code = ErrorCode.FORBIDDEN


class NotFound(DesklineError):
    """The thing named does not exist (or is not visible to the caller)."""

    code = ErrorCode.NOT_FOUND


class Conflict(DesklineError):
    """The request clashes with the current state: a duplicate or a lost race."""

    code = ErrorCode.CONFLICT


class RateLimited(DesklineError):
    """Too many attempts in a short time."""

    code = ErrorCode.RATE_LIMITED


class PayloadTooLarge(DesklineError):
    """The payload is larger than the configured limit."""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class UnknownEvent(DesklineError):
    """No handler knows the event's name."""

    code = ErrorCode.UNKNOWN_EVENT
