"""Which offices a signed-in user tracks, on SQLite, so tracking survives reconnects on any instance."""

from __future__ import annotations

from datetime import datetime

from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_tracking (
    user_id TEXT NOT NULL,
    ref TEXT NOT NULL,
    since TEXT NOT NULL,
    PRIMARY KEY (user_id, ref)
)
"""


class SqliteTrackingStore:
    """A user's tracked offices: one row per (user, office)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def init(self) -> None:
        """Create the tracking table if missing."""
        await self._db.create_schema(SCHEMA)

    async def track(self, user_id: str, refs: list[str], now: datetime) -> None:
        """Remember that ``user_id`` tracks ``refs`` (already tracked ones are kept as they were)."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT OR IGNORE INTO queue_tracking (user_id, ref, since) VALUES (?, ?, ?)",
                [(user_id, ref, iso(now)) for ref in refs],
            )

    async def untrack(self, user_id: str, refs: list[str]) -> None:
        """Forget that ``user_id`` tracks ``refs``."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "DELETE FROM queue_tracking WHERE user_id = ? AND ref = ?", [(user_id, ref) for ref in refs]
            )

    async def tracked_by(self, user_id: str) -> list[str]:
        """Return the references ``user_id`` tracks, sorted."""
        rows = await self._db.fetch_all("SELECT ref FROM queue_tracking WHERE user_id = ? ORDER BY ref", (user_id,))
        return [r["ref"] for r in rows]
