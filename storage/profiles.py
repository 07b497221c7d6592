"""Profile repository: city, region and the picture in use of each account (its name stays on the account)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.profiles import ProfileChanges, ProfileRecord
from storage.database import Database

NOT_YOUR_UPLOAD = "no such unused upload of yours"


class ProfileStore(Protocol):
    """Domain operations on profiles; raises ``NotFound`` and ``Conflict``."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def backfill(self) -> int:
        """Give every account without a profile an empty one; return how many were added."""

    async def get(self, user_id: str) -> ProfileRecord | None:
        """Return the user's stored profile, if any (an account without one has an empty profile)."""

    async def save(self, user_id: str, changes: ProfileChanges, now: datetime) -> ProfileRecord:
        """Apply ``changes`` in one atomic step and return the profile.

        The name is written on the account; a new picture is linked to the profile only while it is an unused
        upload of the user (else ``Conflict``, nothing written), and the previous picture is unlinked (it expires
        like any unreferenced upload). ``NotFound`` if the account is unknown.
        """


def make_profile_store(db: Database) -> ProfileStore:
    """Return the profile store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.profiles import MongoProfileStore

        return MongoProfileStore(db)  # type: ignore[arg-type]
    from storage.sqlite.profiles import SqliteProfileStore

    return SqliteProfileStore(db)  # type: ignore[arg-type]
