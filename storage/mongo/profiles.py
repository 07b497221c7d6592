"""Profiles on MongoDB: one document per account in ``profiles``; the picture link lives on its attachment record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from models.errors import Conflict, NotFound
from models.profiles import PROFILE_PICTURE_KIND, ProfileChanges, ProfileRecord
from storage.mongo.attachments import RECORDS
from storage.mongo.db import MongoDatabase
from storage.profiles import NOT_YOUR_UPLOAD

_EMPTY = {"city": "", "region": "", "picture_attachment_id": None, "updated_at": None}


def _record(doc: dict[str, Any]) -> ProfileRecord:
    return ProfileRecord(user_id=doc["_id"], **{k: doc.get(k, v) for k, v in _EMPTY.items()})


class MongoProfileStore:
    """Profiles in MongoDB, written with the account name and picture links in one transaction."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._profiles = db.db["profiles"]
        self._users = db.db["users"]
        self._attachments = db.db[RECORDS]

    async def init(self) -> None:
        """Nothing to index: profiles are read by ``_id`` (the user id)."""
        await self._profiles.find_one({"_id": ""})  # a round trip, so a dead database fails here like the others

    async def backfill(self) -> int:
        """Give every account without a profile an empty one; return how many were added."""
        added = 0
        async for user in self._users.find({}, {"_id": 1}):
            result = await self._profiles.update_one({"_id": user["_id"]}, {"$setOnInsert": _EMPTY}, upsert=True)
            added += 1 if result.upserted_id is not None else 0
        return added

    async def get(self, user_id: str) -> ProfileRecord | None:
        """Return the user's stored profile, if any."""
        doc = await self._profiles.find_one({"_id": user_id})
        return _record(doc) if doc else None

    async def save(self, user_id: str, changes: ProfileChanges, now: datetime) -> ProfileRecord:
        """Apply ``changes`` in one transaction (account name, profile, picture links) and return the profile."""

        async def attempt(session: AsyncClientSession) -> ProfileRecord:
            if changes.name is not None:
                found = await self._users.update_one(
                    {"_id": user_id}, {"$set": {"name": changes.name}}, session=session
                )
                known = found.matched_count > 0
            else:
                known = await self._users.find_one({"_id": user_id}, {"_id": 1}, session=session) is not None
            if not known:
                raise NotFound("no such user", {"user_id": user_id})
            doc = await self._profiles.find_one({"_id": user_id}, session=session)
            old = _record(doc) if doc else ProfileRecord(user_id=user_id)
            picture = old.picture_attachment_id
            if changes.picture_attachment_id or changes.remove_picture:
                picture = await self._swap_picture(session, user_id, picture, changes.picture_attachment_id)
            record = ProfileRecord(
                user_id=user_id,
                city=old.city if changes.city is None else changes.city,
                region=old.region if changes.region is None else changes.region,
                picture_attachment_id=picture,
                updated_at=now,
            )
            fields = record.model_dump(exclude={"user_id"})
            await self._profiles.update_one({"_id": user_id}, {"$set": fields}, upsert=True, session=session)
            return record

        return await self._db.transaction(attempt)

    async def _swap_picture(
        self, session: AsyncClientSession, user_id: str, old: str | None, new: str | None
    ) -> str | None:
        """Within the transaction: unlink the old picture and link the new one (an unused upload of the user)."""
        if old is not None and old != new:
            await self._attachments.update_one(
                {"_id": old, "ticket_kind": PROFILE_PICTURE_KIND},
                {"$set": {"ticket_kind": None, "ticket_id": None}},
                session=session,
            )
        if new is not None and new != old:
            result = await self._attachments.update_one(
                {"_id": new, "ticket_id": None, "uploader_id": user_id, "workspace_id": None},
                {"$set": {"ticket_kind": PROFILE_PICTURE_KIND, "ticket_id": user_id}},
                session=session,
            )
            if not result.modified_count:
                raise Conflict(NOT_YOUR_UPLOAD, {"attachment_id": new})
        return new
