"""Account recovery repository: password-reset tokens, SMS login codes, and request counters."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from storage.database import Database


class RecoveryStore(Protocol):
    """Domain operations of password reset and phone login; every check-and-use is one atomic step."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def record_request(self, key: str, now: datetime, forget_before: datetime) -> None:
        """Count one request under ``key`` (and forget that key's requests older than ``forget_before``)."""

    async def count_requests(self, key: str, since: datetime) -> int:
        """Return the requests under ``key`` since ``since``."""

    async def add_reset_token(self, token_hash: str, user_id: str, expires_at: datetime, now: datetime) -> None:
        """Store a password-reset token (by its hash)."""

    async def use_reset_token(self, token_hash: str, now: datetime) -> str | None:
        """Mark a live, unused token used and return its user id; None if unknown, used or expired."""

    async def drop_reset_tokens(self, user_id: str, now: datetime) -> int:
        """Mark every unused token of the user used; return how many."""

    async def put_login_code(
        self, phone: str, user_id: str, code_hash: str, expires_at: datetime, now: datetime
    ) -> None:
        """Store the login code of ``phone``, replacing any earlier one (attempts start at 0)."""

    async def use_login_code(self, phone: str, code_hash: str, now: datetime, max_attempts: int) -> str | None:
        """Spend one attempt on the phone's live code; on a match mark it used and return its user id."""


def make_recovery_store(db: Database) -> RecoveryStore:
    """Return the recovery store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.recovery import MongoRecoveryStore

        return MongoRecoveryStore(db)  # type: ignore[arg-type]
    from storage.sqlite.recovery import SqliteRecoveryStore

    return SqliteRecoveryStore(db)  # type: ignore[arg-type]
