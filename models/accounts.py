"""Accounts: users, tokens, and the payloads of the account events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, model_validator

from models.common import Document, Identifier, Limit, Name, Payload, Phone
from models.pushes import Push
from models.roles import Role

# A new password's length; how hard it is to guess is checked by the account service (``auth.passwords``).
Password = Annotated[str, StringConstraints(min_length=10, max_length=256)]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class User(Document):
    """A user as clients see it (never with its password hash)."""

    id: str
    email: str | None = None
    phone: str | None = None
    name: str
    role: Role
    active: bool = True
    created_at: datetime


class UserRecord(User):
    """A stored user, with its password hash; stays inside the server."""

    password_hash: str
    session_version: int = 0  # bumped to end every session: tokens of older versions are refused


class NewUser(Document):
    """What the account store needs to create a user."""

    email: str | None = None
    phone: str | None = None
    name: str
    role: Role
    password_hash: str


class _Contact(Payload):
    email: EmailStr | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _one_contact(self) -> _Contact:
        if not self.email and not self.phone:
            raise ValueError("give an email or a phone")
        if self.email:
            self.email = self.email.lower()
        return self


class RegisterPayload(_Contact):
    """``register``: a new client account."""

    name: Name
    password: Password


class CreateUserPayload(RegisterPayload):
    """``create_user`` (admin): an account of any role."""

    role: Role


class LoginPayload(_Contact):
    """``login``: email or phone and password."""

    password: AnyPassword


class RefreshPayload(Payload):
    """``refresh_token``: trade a refresh token for a new pair."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class LogoutPayload(Payload):
    """``logout``: sign the socket out; revoke one refresh token, or all of the user's."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = None
    everywhere: bool = False


class ListUsersPayload(Payload):
    """``list_users`` (admin): a page of users, optionally of one role."""

    role: Role | None = None
    cursor: str | None = None
    limit: Limit = 50


class UpdateUserPayload(Payload):
    """``update_user`` (admin): change a user's name, role or active flag."""

    user_id: Identifier
    name: Name | None = None
    role: Role | None = None
    active: bool | None = None


class UserIdPayload(Payload):
    """A payload naming one user."""

    user_id: Identifier


class RefreshGrant(Document):
    """What a rotated refresh token hands on to its successor: the user, its family and its session version."""

    user_id: str
    family_id: str
    version: int


class TokenPair(Document):
    """The answer to a successful login or refresh."""

    access_token: str
    refresh_token: str
    expires_in: int = Field(description="seconds until the access token expires")
    user: User


class SessionEnded(Document):
    """Push ``session_ended``: the user's sessions were ended (logout everywhere, password change, admin)."""

    reason: str


SESSION_ENDED = Push("session_ended", SessionEnded)
