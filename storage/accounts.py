"""Account repository: users, refresh tokens, login-attempt counters and known-good addresses."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.accounts import NewUser, RefreshGrant, User, UserRecord
from models.logins import LoginCounter, LoginLimit
from models.roles import Role
from storage.database import Database


class AccountStore(Protocol):
    """Domain operations on accounts; raises ``Conflict`` and ``NotFound``."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def create_user(self, new: NewUser, now: datetime) -> User:
        """Store a user; ``Conflict`` when the email or phone is taken."""

    async def restore_user(self, record: UserRecord) -> bool:
        """Store an exported user as it was (id, hash, session version); False if that id already exists."""

    async def get_user(self, user_id: str) -> UserRecord:
        """Return one user; ``NotFound`` if unknown."""

    async def find_by_contact(self, email: str | None, phone: str | None) -> UserRecord | None:
        """Return the user with this email (or else phone), if any."""

    async def list_users(self, role: Role | None, after: tuple[datetime, str] | None, limit: int) -> list[User]:
        """Return up to ``limit`` users in creation order, after a cursor position."""

    async def update_user(self, user_id: str, name: str | None, role: Role | None, active: bool | None) -> User:
        """Change the given fields; ``NotFound`` if unknown."""

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash."""

    async def add_refresh_token(
        self, token_hash: str, user_id: str, expires_at: datetime, family_id: str | None = None, version: int = 0
    ) -> None:
        """Remember an issued refresh token of a family (default: a new family of its own) and session version."""

    async def rotate_refresh_token(
        self, old_hash: str, new_hash: str, new_expires_at: datetime, now: datetime
    ) -> RefreshGrant | None:
        """Revoke a live token and store its successor (same family and version) atomically; None if not live."""

    async def revoke_refresh_family(self, token_hash: str) -> str | None:
        """Revoke every token of the family of a known token (reuse); return its user id, None if unknown."""

    async def revoke_refresh_token(self, token_hash: str, user_id: str) -> bool:
        """Revoke one of the user's tokens; return whether it was live."""

    async def revoke_all_refresh_tokens(self, user_id: str) -> int:
        """Revoke every token of the user; return how many."""

    async def end_sessions(self, user_id: str) -> int:
        """Bump the user's session version, then revoke every refresh token; return how many were revoked."""

    async def session_version(self, user_id: str) -> int | None:
        """Return the user's session version; None if the user is unknown or deactivated."""

    async def reserve_login(self, limits: list[LoginLimit], now: datetime) -> int | None:
        """Take one attempt on every limit's counter atomically; else return the seconds to wait (nothing taken)."""

    async def release_login(self, keys: list[str], reserved_at: datetime) -> None:
        """Give back an attempt reserved at ``reserved_at`` (a good password) on counters still in that window."""

    async def login_counter(self, key: str) -> LoginCounter | None:
        """Return the stored counter of ``key``, if any."""

    async def clear_login_failures(self, key: str) -> None:
        """Forget the attempts counted under ``key``."""

    async def remember_address(self, user_id: str, address: str, now: datetime) -> None:
        """Record that ``user_id`` signed in from ``address`` (a known-good address from now on)."""

    async def is_known_address(self, user_id: str, address: str) -> bool:
        """Return whether ``user_id`` has signed in from ``address`` before."""


def make_account_store(db: Database) -> AccountStore:
    """Return the account store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.accounts import MongoAccountStore

        return MongoAccountStore(db)  # type: ignore[arg-type]
    from storage.sqlite.accounts import SqliteAccountStore

    return SqliteAccountStore(db)  # type: ignore[arg-type]
