"""Account recovery on SQLite."""

from __future__ import annotations

import hmac
from datetime import datetime

from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one

SCHEMA = """
CREATE TABLE IF NOT EXISTS recovery_requests (
    key TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recovery_requests_key ON recovery_requests (key, at);
CREATE TABLE IF NOT EXISTS reset_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reset_tokens_user ON reset_tokens (user_id);
CREATE TABLE IF NOT EXISTS login_codes (
    phone TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    used INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
)
"""


class SqliteRecoveryStore:
    """Reset tokens, login codes and request counters in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the recovery tables if missing."""
        await self._db.create_schema(SCHEMA)

    async def record_request(self, key: str, now: datetime, forget_before: datetime) -> None:
        """Count one request under ``key`` (and forget that key's requests older than ``forget_before``)."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM recovery_requests WHERE key = ? AND at < ?", (key, iso(forget_before)))
            await conn.execute("INSERT INTO recovery_requests (key, at) VALUES (?, ?)", (key, iso(now)))

    async def count_requests(self, key: str, since: datetime) -> int:
        """Return the requests under ``key`` since ``since``."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n FROM recovery_requests WHERE key = ? AND at > ?", (key, iso(since))
        )
        return int(row["n"]) if row else 0

    async def add_reset_token(self, token_hash: str, user_id: str, expires_at: datetime, now: datetime) -> None:
        """Store a password-reset token (by its hash), dropping the user's expired ones."""
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM reset_tokens WHERE user_id = ? AND expires_at <= ?", (user_id, iso(now)))
            await conn.execute(
                "INSERT INTO reset_tokens (token_hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
                (token_hash, user_id, iso(expires_at), iso(now)),
            )

    async def use_reset_token(self, token_hash: str, now: datetime) -> str | None:
        """Mark a live, unused token used (one conditional UPDATE) and return its user id."""
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn,
                "UPDATE reset_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?"
                " RETURNING user_id",
                (iso(now), token_hash, iso(now)),
            )
        return str(row["user_id"]) if row else None

    async def drop_reset_tokens(self, user_id: str, now: datetime) -> int:
        """Mark every unused token of the user used; return how many."""
        return await self._db.execute(
            "UPDATE reset_tokens SET used_at = ? WHERE user_id = ? AND used_at IS NULL", (iso(now), user_id)
        )

    async def put_login_code(
        self, phone: str, user_id: str, code_hash: str, expires_at: datetime, now: datetime
    ) -> None:
        """Store the login code of ``phone``, replacing any earlier one (attempts start at 0)."""
        await self._db.execute(
            "INSERT INTO login_codes (phone, user_id, code_hash, expires_at, attempts, used, created_at)"
            " VALUES (?, ?, ?, ?, 0, 0, ?) ON CONFLICT (phone) DO UPDATE SET user_id = excluded.user_id,"
            " code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0, used = 0,"
            " created_at = excluded.created_at",
            (phone, user_id, code_hash, iso(expires_at), iso(now)),
        )

    async def use_login_code(self, phone: str, code_hash: str, now: datetime, max_attempts: int) -> str | None:
        """Spend one attempt on the phone's live code; on a match mark it used and return its user id."""
        async with self._db.transaction() as conn:
            row = await tx_fetch_one(
                conn,
                "UPDATE login_codes SET attempts = attempts + 1"
                " WHERE phone = ? AND used = 0 AND expires_at > ? AND attempts < ? RETURNING user_id, code_hash",
                (phone, iso(now), max_attempts),
            )
            if row is None or not hmac.compare_digest(row["code_hash"], code_hash):
                return None
            await conn.execute("UPDATE login_codes SET used = 1 WHERE phone = ?", (phone,))
            return str(row["user_id"])
