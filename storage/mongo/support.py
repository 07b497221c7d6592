"""Support tickets (Dowell-compatible) on MongoDB."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from models.errors import Conflict
from models.helpdesk import TOPIC_KIND
from models.support import LineManager, SupportMessage, SupportTicket, Topic
from storage.categories import topic_category, topic_of
from storage.mongo.attachments import RECORDS, link_all
from storage.mongo.categories import MongoCategoryStore
from storage.mongo.db import MongoDatabase
from storage.mongo.helpdesk_loads import MEMBERS
from storage.mongo.line_managers import (
    claim_line_manager,
    get_line_manager,
    list_line_managers,
    migrate_line_managers,
    move_count,
    put_line_manager,
)
from storage.mongo.tickets import (
    MESSAGES,
    NOT_SIGNED_IN,
    TICKETS,
    dowell_message_doc,
    dowell_ticket_doc,
    init_tickets,
    support_message_of,
    support_ticket_of,
)

BY_TIME = [("created_at", ASCENDING), ("_id", ASCENDING)]


def _doc(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(by_alias=True))


class MongoSupportStore:
    """Support tickets in MongoDB; a ticket and its manager's count change together in one transaction."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._attachments = db.db[RECORDS]
        self._categories = MongoCategoryStore(db)  # topics are categories of kind ``topic``
        self._members = db.db[MEMBERS]  # line managers are members (``storage.mongo.line_managers``)
        self._tickets = db.db[TICKETS]  # the unified tickets (``storage.mongo.tickets``), Dowell doors only
        self._messages = db.db[MESSAGES]

    async def init(self) -> None:
        """Create the support indexes (the unified tickets and categories) if missing, and move today's line
        managers into the members once."""
        await init_tickets(self._db)
        await self._categories.init()
        await migrate_line_managers(self._db)

    async def create_topic(self, topic: Topic) -> Topic:
        """Store a topic as a category of kind ``topic``; ``Conflict`` if the workspace has one of that name."""
        try:
            await self._categories.create(topic_category(topic))
        except Conflict as exc:
            raise Conflict(f"Topic {topic.name} already exists") from exc
        return topic

    async def list_topics(self, workspace_id: str) -> list[Topic]:
        """Return the workspace's topics in creation order."""
        return [topic_of(c) for c in await self._categories.list_kind(workspace_id, TOPIC_KIND)]

    async def create_line_manager(self, manager: LineManager) -> LineManager:
        """Store a line manager (a member document); ``Conflict`` if the workspace has one for that user."""
        await put_line_manager(self._db, manager)
        return manager

    async def list_line_managers(self, workspace_id: str) -> list[LineManager]:
        """Return the workspace's line managers, by position in the line."""
        return await list_line_managers(self._members, workspace_id)

    async def get_line_manager(self, workspace_id: str, user_id: str) -> LineManager | None:
        """Return one line manager, or None."""
        return await get_line_manager(self._members, workspace_id, user_id)

    async def open_ticket(
        self, ticket_id: str, workspace_id: str, user_id: str, product: str, now: datetime
    ) -> SupportTicket | None:
        """Count the least-loaded manager (see ``claim_least``) and store the ticket in one transaction.

        Both writes commit together or not at all, so a failed insert (or a process dying
        half-way) never leaves a manager counted for a ticket that does not exist.
        """

        async def attempt(session: AsyncClientSession) -> SupportTicket | None:
            manager = await claim_line_manager(self._members, workspace_id, session)
            if manager is None:
                return None
            ticket = SupportTicket(
                id=ticket_id,
                user_id=user_id,
                line_manager=manager,
                created_at=now,
                updated_at=now,
                product=product,
                workspace_id=workspace_id,
            )
            await self._tickets.insert_one(dowell_ticket_doc(_doc(ticket)), session=session)
            return ticket

        return await self._db.transaction(attempt)

    async def restore_ticket(self, ticket: SupportTicket) -> None:
        """Store an exported ticket as it was (its manager's count comes with the exported line managers)."""
        doc = dowell_ticket_doc(_doc(ticket))
        del doc["_id"]
        await self._tickets.update_one({"_id": ticket.id}, {"$setOnInsert": doc}, upsert=True)

    async def list_tickets(self, workspace_id: str, product: str) -> list[SupportTicket]:
        """Return the workspace's tickets of ``product`` in creation order."""
        cursor = self._tickets.find({"workspace_id": workspace_id, "product": product, **NOT_SIGNED_IN}).sort(BY_TIME)
        return [support_ticket_of(doc) async for doc in cursor]

    async def list_user_tickets(self, workspace_id: str, user_id: str) -> list[SupportTicket]:
        """Return the tickets one user (a widget visitor) opened in the workspace, in creation order."""
        cursor = self._tickets.find({"workspace_id": workspace_id, "client_id": user_id, **NOT_SIGNED_IN}).sort(BY_TIME)
        return [support_ticket_of(doc) async for doc in cursor]

    async def get_ticket(self, workspace_id: str, ticket_id: str) -> SupportTicket | None:
        """Return one ticket of the workspace, or None."""
        doc = await self._tickets.find_one({"_id": ticket_id, "workspace_id": workspace_id, **NOT_SIGNED_IN})
        return support_ticket_of(doc) if doc else None

    async def ticket_ids(self, workspace_id: str) -> list[str]:
        """Return the ids of every ticket of the workspace."""
        return [
            doc["_id"] async for doc in self._tickets.find({"workspace_id": workspace_id, **NOT_SIGNED_IN}, {"_id": 1})
        ]

    async def _flip(self, workspace_id: str, ticket_id: str, closed: bool, now: datetime) -> SupportTicket | None:
        """Flip ``is_closed`` (conditional update) and move the manager's count in one transaction."""
        was, becomes = ("open", "closed") if closed else ("closed", "open")

        async def attempt(session: AsyncClientSession) -> dict[str, Any] | None:
            doc = await self._tickets.find_one_and_update(
                {"_id": ticket_id, "workspace_id": workspace_id, **NOT_SIGNED_IN, "status": was},
                {"$set": {"status": becomes, "updated_at": now}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if doc is None:
                return None
            await move_count(self._members, workspace_id, doc["assignee_id"], -1 if closed else 1, session)
            return doc

        doc = await self._db.transaction(attempt)
        return support_ticket_of(doc) if doc else None

    async def close_ticket(self, workspace_id: str, ticket_id: str, now: datetime) -> SupportTicket | None:
        """Close an open ticket and take 1 off its manager's count (never below 0); None if not open."""
        return await self._flip(workspace_id, ticket_id, True, now)

    async def reopen_ticket(self, workspace_id: str, ticket_id: str, now: datetime) -> SupportTicket | None:
        """Reopen a closed ticket and add 1 to its manager's count; None if not closed."""
        return await self._flip(workspace_id, ticket_id, False, now)

    async def reassign_ticket(
        self, workspace_id: str, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> SupportTicket | None:
        """Move the ticket (conditional update) and 1 of ``ticket_count`` from ``expected`` to ``assignee_id`` in
        one transaction."""

        async def attempt(session: AsyncClientSession) -> dict[str, Any] | None:
            doc = await self._tickets.find_one_and_update(
                {
                    "_id": ticket_id,
                    "workspace_id": workspace_id,
                    **NOT_SIGNED_IN,
                    "status": "open",
                    "assignee_id": expected,
                },
                {"$set": {"assignee_id": assignee_id, "updated_at": now}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if doc is None:
                return None
            if not await move_count(self._members, workspace_id, assignee_id, 1, session):  # aborts the move too
                raise Conflict("the new assignee left the workspace meanwhile", {"assignee_id": assignee_id})
            await move_count(self._members, workspace_id, expected, -1, session)
            return doc

        doc = await self._db.transaction(attempt)
        return support_ticket_of(doc) if doc else None

    async def tickets_ahead(self, ticket: SupportTicket) -> int:
        """Return how many open tickets of the same manager were created before ``ticket``."""
        return await self._tickets.count_documents(
            {
                "workspace_id": ticket.workspace_id,
                **NOT_SIGNED_IN,
                "assignee_id": ticket.line_manager,
                "status": {"$ne": "closed"},
                "$or": [
                    {"created_at": {"$lt": ticket.created_at}},
                    {"created_at": ticket.created_at, "_id": {"$lt": ticket.id}},
                ],
            }
        )

    async def add_message(self, message: SupportMessage, uploader_id: str | None = None) -> None:
        """Link the uploader's (default: the workspace key's) attachments and store the message, in one transaction."""
        m = message

        async def attempt(session: AsyncClientSession) -> None:
            ids, ws = m.attachments, m.workspace_id
            await link_all(self._attachments, ids, uploader_id, ws, "support", m.ticket_id, session)
            await self._messages.insert_one(dowell_message_doc(_doc(m)), session=session)

        if not m.attachments:  # one document: no transaction needed
            await self._messages.insert_one(dowell_message_doc(_doc(m)))
            return
        await self._db.transaction(attempt)

    async def get_message(self, ticket_id: str, message_id: str) -> SupportMessage | None:
        """Return one message of the ticket, or None."""
        doc = await self._messages.find_one({"_id": message_id, "ticket_id": ticket_id})
        return support_message_of(doc) if doc else None

    async def list_messages(self, ticket_id: str, limit: int = 1000) -> list[SupportMessage]:
        """Return the ticket's newest ``limit`` messages, oldest first."""
        cursor = (
            self._messages.find({"ticket_id": ticket_id})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        docs = [doc async for doc in cursor]
        return [support_message_of(doc) for doc in reversed(docs)]

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
