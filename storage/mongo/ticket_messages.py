"""The message half of the ticket store on MongoDB (``MongoTicketStore``): one history (``ticket_messages``),
written by the writer's rule (a signed-in user, or at a line door) and read as one record, the Dowell read flags
and the signed-in read markers.

A message and the attachments it links are written in one multi-document transaction.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from models.errors import Conflict, NotFound
from models.tickets import LINE_ROLES, MessageRecord, ReadMarker, TicketStatus
from storage.attachments import link_kind
from storage.mongo.attachments import link_all
from storage.mongo.db import MongoDatabase
from storage.mongo.ticket_docs import NEWEST, doc_in, doc_out

Collection = AsyncCollection[dict[str, Any]]


class MongoTicketMessages:
    """The message operations of ``MongoTicketStore``."""

    _db: MongoDatabase
    _tickets: Collection
    _messages: Collection
    _reads: Collection
    _attachments: Collection

    async def add_message(self, message: MessageRecord, uploader_id: str | None = None) -> None:
        """Store a message and link the attachments it names, by its writer's rule, in one transaction."""
        if message.author_role in LINE_ROLES:
            await self._add_line_message(message, uploader_id)
        else:
            await self._add_signed_in_message(message)

    async def _add_signed_in_message(self, message: MessageRecord) -> None:
        """Touch the ticket, store the message and link the author's attachments, in one transaction.

        ``NotFound``, or ``Conflict`` if the ticket is closed or an attachment is taken: nothing is written.
        """
        m = message

        async def attempt(session: AsyncClientSession) -> None:
            touched = await self._tickets.find_one_and_update(
                {"_id": m.ticket_id, "status": {"$ne": TicketStatus.CLOSED.value}},
                {"$set": {"updated_at": m.created_at}},
                {"workspace_id": 1, "product": 1, "door": 1},
                session=session,
            )
            if touched is None:
                if await self._tickets.find_one({"_id": m.ticket_id}, {"_id": 1}, session=session) is None:
                    raise NotFound("no such ticket", {"ticket_id": m.ticket_id})
                raise Conflict("the ticket is closed", {"ticket_id": m.ticket_id})
            kind, into = link_kind(touched.get("door", "signed_in"), touched["workspace_id"])
            await link_all(self._attachments, m.attachments, m.author_id, None, kind, m.ticket_id, session, into)
            extra = {"workspace_id": touched["workspace_id"], "product": touched.get("product"), "reply_to": None}
            extra["is_read"] = False
            await self._messages.insert_one({**doc_out(m), **extra}, session=session)

        await self._db.transaction(attempt)

    async def _add_line_message(self, message: MessageRecord, uploader_id: str | None) -> None:
        """Link the uploader's (default: the workspace key's) attachments and store the message, in one transaction."""
        m = message
        doc = doc_out(m)

        async def attempt(session: AsyncClientSession) -> None:
            ids, ws = m.attachments, m.workspace_id
            await link_all(self._attachments, ids, uploader_id, ws, "support", m.ticket_id, session)
            await self._messages.insert_one(doc, session=session)

        if not m.attachments:  # one document: no transaction needed
            await self._messages.insert_one(doc)
            return
        await self._db.transaction(attempt)

    async def get_message(self, ticket_id: str, message_id: str) -> MessageRecord | None:
        """Return one message of the ticket, or None."""
        doc = await self._messages.find_one({"_id": message_id, "ticket_id": ticket_id})
        return MessageRecord.model_validate(doc_in(doc)) if doc else None

    async def list_messages(self, ticket_id: str, limit: int = 1000) -> list[MessageRecord]:
        """Return the ticket's newest ``limit`` messages, oldest first."""
        cursor = self._messages.find({"ticket_id": ticket_id}).sort(NEWEST).limit(limit)
        docs = [doc async for doc in cursor]
        return [MessageRecord.model_validate(doc_in(doc)) for doc in reversed(docs)]

    async def count_unread(self, ticket_id: str, reader: str) -> int:
        """Return how many messages of the ticket not written by ``reader`` are unread."""
        return await self._messages.count_documents(
            {"ticket_id": ticket_id, "author_id": {"$ne": reader}, "is_read": False}
        )

    async def mark_read(self, ticket_id: str, reader: str) -> int:
        """Mark the ticket's messages not written by ``reader`` as read; return how many changed."""
        result = await self._messages.update_many(
            {"ticket_id": ticket_id, "author_id": {"$ne": reader}, "is_read": False}, {"$set": {"is_read": True}}
        )
        return result.modified_count

    async def set_read(self, marker: ReadMarker) -> ReadMarker:
        """Move the read marker forward only: an upsert whose filter only matches older markers."""
        key = f"{marker.ticket_id}:{marker.user_id}"
        older = {
            "$or": [
                {"message_at": {"$lt": marker.message_at}},
                {"message_at": marker.message_at, "message_id": {"$lt": marker.message_id}},
            ]
        }
        try:
            doc = await self._reads.find_one_and_update(
                {"_id": key, **older}, {"$set": marker.model_dump()}, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            doc = await self._reads.find_one({"_id": key})  # a newer marker is already stored
        return ReadMarker.model_validate(doc)

    async def list_reads(self, ticket_id: str) -> list[ReadMarker]:
        """Return every user's read marker of the ticket."""
        cursor = self._reads.find({"ticket_id": ticket_id}).sort([("at", 1)])
        return [ReadMarker.model_validate(doc) async for doc in cursor]
