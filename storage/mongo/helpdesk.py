"""Signed-in helpdesk on MongoDB.

A ticket change and the load it moves (``workspace_members.load``: how many open or pending tickets
a member holds), or a message and the attachments it links, are written in one multi-document
transaction (``with_transaction``): a failure or a cancelled request aborts both, so a load is
never off by one. A concurrent change of the same ticket or member is a write conflict, and
``with_transaction`` retries the whole transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from models.errors import Conflict, NotFound
from models.helpdesk import Category
from models.tickets import ACTIVE, ReadMarker, Ticket, TicketMessage, TicketQuery, TicketStatus
from storage.attachments import link_kind
from storage.mongo.attachments import RECORDS, link_all
from storage.mongo.categories import MongoCategoryStore
from storage.mongo.db import MongoDatabase
from storage.mongo.helpdesk_loads import MEMBERS, add_member_load, claim_member
from storage.mongo.tickets import MESSAGES, SIGNED_IN, TICKETS, init_tickets

NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]


def _in(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


def _out(model: Any) -> dict[str, Any]:
    doc = model.model_dump(mode="python")
    doc["_id"] = doc.pop("id")
    return dict(doc)


def _filter(query: TicketQuery, after: tuple[datetime, str] | None) -> dict[str, Any]:
    """Return the MongoDB filter of a ticket listing."""
    parts: list[dict[str, Any]] = []
    if query.client_id is not None:  # a client's own tickets: the signed-in door's (others name no account)
        parts.append({"client_id": query.client_id, **SIGNED_IN})
    if query.workspace_ids is not None:
        parts.append({"workspace_id": {"$in": query.workspace_ids}})
    if query.agent_id is not None:
        scopes = [
            {"workspace_id": ws, **({"category_id": {"$in": cats}} if cats else {})}
            for ws, cats in query.agent_scopes.items()
        ]
        if scopes:  # assigned tickets count only while still a member of their workspace
            mine = {"assignee_id": query.agent_id, "workspace_id": {"$in": list(query.agent_scopes)}}
            parts.append({"$or": [mine, {"status": TicketStatus.OPEN.value, "$or": scopes}]})
        else:
            parts.append({"_id": {"$in": []}})  # a member of nothing sees nothing
    for name in ("status", "category_id", "assignee_id"):
        value = getattr(query, name)
        if value is not None:
            parts.append({name: str(value)})
    created: dict[str, Any] = {}
    if query.created_from is not None:
        created["$gte"] = query.created_from
    if query.created_to is not None:
        created["$lt"] = query.created_to
    if created:
        parts.append({"created_at": created})
    if after is not None:
        stamp, last_id = after
        parts.append({"$or": [{"created_at": {"$lt": stamp}}, {"created_at": stamp, "_id": {"$lt": last_id}}]})
    return {"$and": parts} if parts else {}


class MongoHelpdeskStore:
    """The helpdesk in MongoDB; ticket changes are conditional updates inside transactions."""

    def __init__(self, db: MongoDatabase) -> None:
        self._categories = MongoCategoryStore(db)
        self._tickets = db.db[TICKETS]  # the unified tickets (``storage.mongo.tickets``): status/assignee of signed-in
        self._messages = db.db[MESSAGES]
        self._reads = db.db["hd_reads"]
        self._members = db.db[MEMBERS]
        self._attachments = db.db[RECORDS]
        self._db = db

    async def init(self) -> None:
        """Create the helpdesk indexes if missing."""
        await init_tickets(self._db)
        await self._categories.init()

    async def create_category(self, category: Category) -> Category:
        """Store a category; ``Conflict`` if the workspace has one of that kind and name (any case)."""
        return await self._categories.create(category)

    async def get_category(self, category_id: str) -> Category:
        """Return one category; ``NotFound`` if unknown."""
        return await self._categories.get(category_id)

    async def list_categories(self, workspace_id: str) -> list[Category]:
        """Return the workspace's categories (Dowell topics too) by name."""
        return await self._categories.list_by_name(workspace_id)

    async def update_category(
        self, category_id: str, name: str | None, description: str | None, now: datetime
    ) -> Category:
        """Change the given fields; ``NotFound``, or ``Conflict`` on a duplicate name."""
        return await self._categories.update(category_id, name, description, now)

    async def delete_category(self, category_id: str) -> None:
        """Delete a category no ticket uses; ``NotFound``, or ``Conflict`` while tickets use it."""
        await self._categories.delete(category_id)

    async def create_ticket(self, ticket: Ticket, auto_assign: bool = False) -> Ticket:
        """Count the assignee's load, link the client's attachments and store the ticket, in one transaction."""

        async def attempt(session: AsyncClientSession) -> Ticket:
            t = ticket
            if auto_assign and t.assignee_id is None:
                picked = await claim_member(self._members, t.workspace_id, t.category_id, session)
                t = t.model_copy(update={"assignee_id": picked})
            elif t.assignee_id and t.status in ACTIVE:
                await add_member_load(self._members, t.workspace_id, t.assignee_id, 1, session)
            await link_all(self._attachments, t.attachments, t.client_id, None, "helpdesk", t.id, session)
            doc = _out(t)
            doc["status"] = t.status.value
            await self._tickets.insert_one(doc, session=session)
            return t

        return await self._db.transaction(attempt)

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """Return one ticket; ``NotFound`` if unknown."""
        doc = await self._tickets.find_one({"_id": ticket_id})
        if doc is None:
            raise NotFound("no such ticket", {"ticket_id": ticket_id})
        return Ticket.model_validate(_in(doc))

    async def list_tickets(self, query: TicketQuery, after: tuple[datetime, str] | None, limit: int) -> list[Ticket]:
        """Return up to ``limit`` tickets matching ``query``, newest first, after a cursor position."""
        cursor = self._tickets.find(_filter(query, after)).sort(NEWEST).limit(limit)
        return [Ticket.model_validate(_in(doc)) async for doc in cursor]

    async def _change(
        self,
        match: dict[str, Any],
        changes: dict[str, Any],
        move: Callable[[Ticket], Iterable[tuple[str, int]]],
        heir: str | None = None,
    ) -> Ticket | None:
        """Apply a conditional ticket update and the load changes ``move`` asks of it, in one transaction.

        ``Conflict`` (nothing written) if ``heir``'s load is to move and they are not a member any more; any
        other non-member gaining load (a ticket made active again after its assignee left) loses the ticket.
        """

        async def attempt(session: AsyncClientSession) -> Ticket | None:
            doc = await self._tickets.find_one_and_update(
                {**match, **SIGNED_IN}, {"$set": changes}, return_document=ReturnDocument.AFTER, session=session
            )
            if doc is None:
                return None
            changed = Ticket.model_validate(_in(doc))
            for user_id, delta in move(changed):
                counted = await add_member_load(self._members, changed.workspace_id, user_id, delta, session)
                if user_id == heir and not counted:
                    raise Conflict("the assignee is no longer a member of the workspace", {"assignee_id": heir})
                if delta > 0 and not counted:  # made active again after its assignee left: nobody's now
                    doc = await self._tickets.find_one_and_update(
                        {"_id": changed.id},
                        {"$set": {"assignee_id": None}},
                        return_document=ReturnDocument.AFTER,
                        session=session,
                    )
                    changed = Ticket.model_validate(_in(doc))
            return changed

        return await self._db.transaction(attempt)

    async def set_status(
        self, ticket_id: str, expected: TicketStatus, status: TicketStatus, now: datetime
    ) -> Ticket | None:
        """Move the ticket from ``expected`` to ``status``, and its assignee's load with it, in one transaction.

        A ticket made active again whose assignee is no longer a member becomes unassigned in the same step.
        """

        def move(changed: Ticket) -> list[tuple[str, int]]:
            was, became = expected in ACTIVE, status in ACTIVE
            return [(changed.assignee_id, 1 if became else -1)] if changed.assignee_id and was != became else []

        match = {"_id": ticket_id, "status": expected.value}
        return await self._change(match, {"status": status.value, "updated_at": now}, move)

    async def set_assignee(
        self, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> Ticket | None:
        """Give the ticket to ``assignee_id`` if still ``expected``'s, moving its load too, in one transaction.

        ``Conflict`` (nothing written) if the ticket is active and ``assignee_id`` is not a member any more.
        """

        def move(changed: Ticket) -> list[tuple[str, int]]:
            if changed.status not in ACTIVE or expected == assignee_id:
                return []
            return [(assignee_id, 1), *([(expected, -1)] if expected else [])]

        match = {"_id": ticket_id, "assignee_id": expected}
        return await self._change(match, {"assignee_id": assignee_id, "updated_at": now}, move, heir=assignee_id)

    async def add_message(self, message: TicketMessage) -> None:
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
            await self._messages.insert_one({**_out(m), **extra}, session=session)

        await self._db.transaction(attempt)

    async def get_message(self, ticket_id: str, message_id: str) -> TicketMessage | None:
        """Return one message of the ticket, or None."""
        doc = await self._messages.find_one({"_id": message_id, "ticket_id": ticket_id})
        return TicketMessage.model_validate(_in(doc)) if doc else None

    async def list_messages(self, ticket_id: str, limit: int) -> list[TicketMessage]:
        """Return the ticket's newest ``limit`` messages, oldest first."""
        cursor = self._messages.find({"ticket_id": ticket_id}).sort(NEWEST).limit(limit)
        docs = [doc async for doc in cursor]
        return [TicketMessage.model_validate(_in(doc)) for doc in reversed(docs)]

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
