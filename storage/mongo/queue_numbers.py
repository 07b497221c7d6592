"""Clients' virtual numbers on MongoDB: taking one is one transaction with the office's issued count."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.errors import Conflict
from models.queue import QueueNumber
from storage.database import new_id
from storage.mongo.db import MongoDatabase
from storage.mongo.queue import AFTER, LIVE, check_live, live_office, number_of


class MongoNumberStore:
    """Virtual numbers taken with ``take_number`` (collection ``queue_numbers``)."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._offices = db.db["queue_offices"]
        self._numbers = db.db["queue_numbers"]

    async def init(self) -> None:
        """Create the numbers' indexes if missing."""
        await self._numbers.create_index(
            [("ref_office", ASCENDING), ("epoch", ASCENDING), ("number", ASCENDING)], unique=True
        )
        await self._numbers.create_index(
            "waiting_key", unique=True, partialFilterExpression={"waiting_key": {"$type": "string"}}
        )
        await self._numbers.create_index([("ref_office", ASCENDING), ("epoch", ASCENDING), ("user_id", ASCENDING)])

    async def take_number(self, ref: str, user_id: str, now: datetime) -> QueueNumber:
        """Issue the user the office's next number, in one transaction; ``Conflict`` if they already wait there.

        The office's issued count and the number commit together, so a reset or deletion at the
        same instant either sees (and expires) the number or comes first (and the number is of the new epoch).
        """

        async def attempt(session: AsyncClientSession) -> QueueNumber:
            office = await live_office(self._offices, ref, session)
            waiting = await self._numbers.find_one(
                {"ref_office": ref, "epoch": office["epoch"], "user_id": user_id, "status": "waiting"},
                session=session,
            )
            if waiting is not None:
                raise Conflict(f"you already hold number {waiting['number']} at {ref}", {"number": waiting["number"]})
            updated = await self._offices.find_one_and_update(
                {"_id": ref, **LIVE},
                [{"$set": {"issued": {"$add": [{"$max": ["$issued", "$counter"]}, 1]}}}],
                return_document=AFTER,
                session=session,
            )
            check_live(updated, ref)
            assert updated is not None
            number = QueueNumber(
                id=new_id(),
                ref_office=ref,
                epoch=updated["epoch"],
                number=updated["issued"],
                user_id=user_id,
                taken_at=now,
            )
            doc = number.model_dump()
            doc["waiting_key"] = f"{ref}:{number.epoch}:{user_id}"
            try:
                await self._numbers.insert_one({"_id": doc.pop("id"), **doc}, session=session)
            except DuplicateKeyError as exc:
                raise Conflict(f"you already hold a number at {ref}") from exc
            return number

        return await self._db.transaction(attempt)

    async def latest_number(self, ref: str, epoch: int, user_id: str) -> QueueNumber | None:
        """Return the user's most recent number at the office in this epoch."""
        cursor = self._numbers.find({"ref_office": ref, "epoch": epoch, "user_id": user_id}).sort("number", DESCENDING)
        docs = await cursor.limit(1).to_list()
        return number_of(docs[0]) if docs else None

    async def find_number(self, ref: str, epoch: int, number: int) -> QueueNumber | None:
        """Return the virtual number ``number`` of this epoch, if a client took it."""
        doc = await self._numbers.find_one({"ref_office": ref, "epoch": epoch, "number": number})
        return number_of(doc) if doc else None

    async def claim_soon(self, ref: str, epoch: int, up_to: int) -> list[QueueNumber]:
        """Flag (once) and return waiting numbers up to ``up_to`` that were not yet told their turn is near."""
        query = {"ref_office": ref, "epoch": epoch, "status": "waiting", "soon_notified": False}
        claimed = []
        async for doc in self._numbers.find({**query, "number": {"$lte": up_to}}).sort("number", ASCENDING):
            won = await self._numbers.find_one_and_update(
                {**query, "_id": doc["_id"]}, {"$set": {"soon_notified": True}}, return_document=AFTER
            )
            if won is not None:
                claimed.append(number_of(won))
        return claimed
