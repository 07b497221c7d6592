"""Account recovery payloads: password reset by email, login by an SMS code."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, StringConstraints, field_validator

from models.accounts import Password
from models.common import Payload

RawPhone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)]
ResetToken = Annotated[str, StringConstraints(strip_whitespace=True, min_length=16, max_length=256)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]


class RequestPasswordResetPayload(Payload):
    """``request_password_reset``: the account's email."""

    email: EmailStr

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class ResetPasswordPayload(Payload):
    """``reset_password``: the token from the email and the new password."""

    token: ResetToken
    new_password: Password


class RequestLoginCodePayload(Payload):
    """``request_login_code``: a phone number in E.164 or local form."""

    phone: RawPhone


class LoginWithCodePayload(Payload):
    """``login_with_code``: the phone number and the 6-digit code sent to it."""

    phone: RawPhone
    code: Code
