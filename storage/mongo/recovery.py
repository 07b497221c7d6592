"""Account recovery on MongoDB."""

from __future__ import annotations

import hmac
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument

from storage.mongo.db import MongoDatabase


class MongoRecoveryStore:
    """Reset tokens, login codes and request counters in MongoDB; every use is a conditional update."""

    def __init__(self, db: MongoDatabase) -> None:
        self._requests = db.db["recovery_requests"]
        self._tokens = db.db["reset_tokens"]
        self._codes = db.db["login_codes"]

    async def init(self) -> None:
        """Create the recovery indexes if missing."""
        await self._requests.create_index([("key", ASCENDING), ("at", ASCENDING)])
        await self._tokens.create_index("user_id")

    async def record_request(self, key: str, now: datetime, forget_before: datetime) -> None:
        """Count one request under ``key`` (and forget that key's requests older than ``forget_before``)."""
        await self._requests.delete_many({"key": key, "at": {"$lt": forget_before}})
        await self._requests.insert_one({"key": key, "at": now})

    async def count_requests(self, key: str, since: datetime) -> int:
        """Return the requests under ``key`` since ``since``."""
        return await self._requests.count_documents({"key": key, "at": {"$gt": since}})

    async def add_reset_token(self, token_hash: str, user_id: str, expires_at: datetime, now: datetime) -> None:
        """Store a password-reset token (by its hash), dropping the user's expired ones."""
        await self._tokens.delete_many({"user_id": user_id, "expires_at": {"$lte": now}})
        await self._tokens.insert_one(
            {"_id": token_hash, "user_id": user_id, "expires_at": expires_at, "used_at": None, "created_at": now}
        )

    async def use_reset_token(self, token_hash: str, now: datetime) -> str | None:
        """Mark a live, unused token used (one conditional update) and return its user id."""
        doc = await self._tokens.find_one_and_update(
            {"_id": token_hash, "used_at": None, "expires_at": {"$gt": now}}, {"$set": {"used_at": now}}
        )
        return str(doc["user_id"]) if doc else None

    async def drop_reset_tokens(self, user_id: str, now: datetime) -> int:
        """Mark every unused token of the user used; return how many."""
        result = await self._tokens.update_many({"user_id": user_id, "used_at": None}, {"$set": {"used_at": now}})
        return result.modified_count

    async def put_login_code(
        self, phone: str, user_id: str, code_hash: str, expires_at: datetime, now: datetime
    ) -> None:
        """Store the login code of ``phone``, replacing any earlier one (attempts start at 0)."""
        doc = {"user_id": user_id, "code_hash": code_hash, "expires_at": expires_at, "attempts": 0, "used": False}
        await self._codes.update_one({"_id": phone}, {"$set": {**doc, "created_at": now}}, upsert=True)

    async def use_login_code(self, phone: str, code_hash: str, now: datetime, max_attempts: int) -> str | None:
        """Spend one attempt on the phone's live code; on a match mark it used and return its user id."""
        doc = await self._codes.find_one_and_update(
            {"_id": phone, "used": False, "expires_at": {"$gt": now}, "attempts": {"$lt": max_attempts}},
            {"$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None or not hmac.compare_digest(doc["code_hash"], code_hash):
            return None
        used = await self._codes.update_one(
            {"_id": phone, "used": False, "code_hash": code_hash}, {"$set": {"used": True}}
        )
        return str(doc["user_id"]) if used.modified_count == 1 else None
