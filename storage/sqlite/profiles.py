"""Profiles on SQLite: one row per account in ``profiles``; the picture link lives on its attachment row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite

from models.errors import Conflict, NotFound
from models.profiles import PROFILE_PICTURE_KIND, ProfileChanges, ProfileRecord
from storage.profiles import NOT_YOUR_UPLOAD
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT PRIMARY KEY,
    city TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    picture_attachment_id TEXT,
    updated_at TEXT
)
"""

_SELECT = "SELECT user_id, city, region, picture_attachment_id, updated_at FROM profiles WHERE user_id = ?"


def _record(row: Any) -> ProfileRecord:
    return ProfileRecord(
        user_id=row["user_id"],
        city=row["city"],
        region=row["region"],
        picture_attachment_id=row["picture_attachment_id"],
        updated_at=from_iso(row["updated_at"]),
    )


class SqliteProfileStore:
    """Profiles in the embedded database."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the profile table if missing."""
        await self._db.create_schema(SCHEMA)

    async def backfill(self) -> int:
        """Give every account without a profile an empty one; return how many were added."""
        return await self._db.execute("INSERT OR IGNORE INTO profiles (user_id) SELECT id FROM users")

    async def get(self, user_id: str) -> ProfileRecord | None:
        """Return the user's stored profile, if any."""
        row = await self._db.fetch_one(_SELECT, (user_id,))
        return _record(row) if row else None

    async def save(self, user_id: str, changes: ProfileChanges, now: datetime) -> ProfileRecord:
        """Apply ``changes`` in one transaction (account name, profile row, picture links) and return the profile."""
        async with self._db.transaction() as conn:
            if await tx_fetch_one(conn, "SELECT id FROM users WHERE id = ?", (user_id,)) is None:
                raise NotFound("no such user", {"user_id": user_id})
            if changes.name is not None:
                await conn.execute("UPDATE users SET name = ? WHERE id = ?", (changes.name, user_id))
            await conn.execute("INSERT OR IGNORE INTO profiles (user_id) VALUES (?)", (user_id,))
            old = _record(await tx_fetch_one(conn, _SELECT, (user_id,)))
            picture = old.picture_attachment_id
            if changes.picture_attachment_id or changes.remove_picture:
                picture = await _swap_picture(conn, user_id, old.picture_attachment_id, changes.picture_attachment_id)
            record = ProfileRecord(
                user_id=user_id,
                city=old.city if changes.city is None else changes.city,
                region=old.region if changes.region is None else changes.region,
                picture_attachment_id=picture,
                updated_at=now,
            )
            await conn.execute(
                "UPDATE profiles SET city = ?, region = ?, picture_attachment_id = ?, updated_at = ? WHERE user_id = ?",
                (record.city, record.region, record.picture_attachment_id, iso(now), user_id),
            )
        return record


async def _swap_picture(conn: aiosqlite.Connection, user_id: str, old: str | None, new: str | None) -> str | None:
    """Inside the transaction: unlink the old picture and link the new one (an unused upload of the user)."""
    if old is not None and old != new:
        await conn.execute(
            "UPDATE attachments SET ticket_kind = NULL, ticket_id = NULL WHERE id = ? AND ticket_kind = ?",
            (old, PROFILE_PICTURE_KIND),
        )
    if new is not None and new != old:
        cursor = await conn.execute(
            "UPDATE attachments SET ticket_kind = ?, ticket_id = ? WHERE id = ? "
            "AND ticket_id IS NULL AND uploader_id = ? AND workspace_id IS NULL",
            (PROFILE_PICTURE_KIND, user_id, new, user_id),
        )
        if not cursor.rowcount:
            raise Conflict(NOT_YOUR_UPLOAD, {"attachment_id": new})
    return new
