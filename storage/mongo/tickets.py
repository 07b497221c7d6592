"""The ticket store on MongoDB: every door's tickets in one collection (``storage.mongo.ticket_docs``).

A ticket change and the count it moves (the signed-in ``load`` of ``storage.mongo.member_loads``, the line
door's ``ticket_count`` of ``storage.mongo.line_managers``), or a message and the attachments it links, are
written in one multi-document transaction (``with_transaction``): a failure or a cancelled request aborts both,
so a count is never off by one; a concurrent change of the same ticket or member is a write conflict, and the
whole transaction is retried. The message operations are ``storage.mongo.ticket_messages``'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from models.errors import Conflict, NotFound
from models.tickets import ACTIVE, SIGNED_IN_DOOR, Ticket, TicketQuery, TicketStatus
from storage.mongo.attachments import RECORDS, link_all
from storage.mongo.db import MongoDatabase
from storage.mongo.line_managers import claim_line_manager, move_count
from storage.mongo.member_loads import MEMBERS, add_member_load, claim_member
from storage.mongo.ticket_docs import (
    BY_TIME,
    MESSAGES,
    NEWEST,
    NOT_SIGNED_IN,
    TICKETS,
    doc_in,
    doc_out,
    init_tickets,
    ticket_filter,
)
from storage.mongo.ticket_messages import MongoTicketMessages


def _ticket(doc: dict[str, Any]) -> Ticket:
    return Ticket.model_validate(doc_in(doc))


def _doc(ticket: Ticket) -> dict[str, Any]:
    doc = doc_out(ticket)
    doc["status"] = ticket.status.value
    return doc


class MongoTicketStore(MongoTicketMessages):
    """The ticket aggregate in MongoDB; ticket changes are conditional updates inside transactions."""

    def __init__(self, db: MongoDatabase) -> None:
        self._db = db
        self._tickets = db.db[TICKETS]
        self._messages = db.db[MESSAGES]
        self._reads = db.db["hd_reads"]
        self._members = db.db[MEMBERS]
        self._attachments = db.db[RECORDS]

    async def init(self) -> None:
        """Create the ticket indexes if missing (and migrate today's ticket collections once)."""
        await init_tickets(self._db)

    async def _move(self, ticket: Ticket, user_id: str, delta: int, session: AsyncClientSession) -> bool:
        """Move the count of the ticket's door (``load`` signed in, else ``ticket_count``) of a member by ``delta``;
        return False if they have no (staff, for ``load``) member document in the ticket's workspace."""
        if ticket.door == SIGNED_IN_DOOR:
            return await add_member_load(self._members, ticket.workspace_id, user_id, delta, session)
        return await move_count(self._members, ticket.workspace_id, user_id, delta, session)

    async def open_ticket(self, ticket: Ticket, auto_assign: bool = False) -> Ticket | None:
        """Pick the holder by the door's rule (see ``claim_least``), count the ticket, link its attachments and store
        it, in one transaction (a line door with no line manager: nothing, None)."""

        async def attempt(session: AsyncClientSession) -> Ticket | None:
            t = ticket
            if t.door != SIGNED_IN_DOOR:
                manager = await claim_line_manager(self._members, t.workspace_id, session)
                if manager is None:
                    return None
                t = t.model_copy(update={"assignee_id": manager})
            elif auto_assign and t.assignee_id is None:
                picked = await claim_member(self._members, t.workspace_id, t.category_id, session)
                t = t.model_copy(update={"assignee_id": picked})
            elif t.assignee_id and t.status in ACTIVE:
                await add_member_load(self._members, t.workspace_id, t.assignee_id, 1, session)
            await link_all(self._attachments, t.attachments, t.client_id, None, "helpdesk", t.id, session)
            await self._tickets.insert_one(_doc(t), session=session)
            return t

        return await self._db.transaction(attempt)

    async def restore_ticket(self, ticket: Ticket) -> None:
        """Store an exported line-door ticket as it was, unless its id exists."""
        doc = _doc(ticket)
        del doc["_id"]
        await self._tickets.update_one({"_id": ticket.id}, {"$setOnInsert": doc}, upsert=True)

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """Return one ticket; ``NotFound`` if unknown."""
        doc = await self._tickets.find_one({"_id": ticket_id})
        if doc is None:
            raise NotFound("no such ticket", {"ticket_id": ticket_id})
        return _ticket(doc)

    async def get_line_ticket(self, workspace_id: str, ticket_id: str) -> Ticket | None:
        """Return one line-door ticket of the workspace, or None."""
        doc = await self._tickets.find_one({"_id": ticket_id, "workspace_id": workspace_id, **NOT_SIGNED_IN})
        return _ticket(doc) if doc else None

    async def list_tickets(self, query: TicketQuery, after: tuple[datetime, str] | None, limit: int) -> list[Ticket]:
        """Return up to ``limit`` tickets matching ``query``, newest first, after a cursor position."""
        cursor = self._tickets.find(ticket_filter(query, after)).sort(NEWEST).limit(limit)
        return [_ticket(doc) async for doc in cursor]

    async def list_line_tickets(
        self, workspace_id: str, product: str | None = None, client_id: str | None = None
    ) -> list[Ticket]:
        """Return the workspace's line-door tickets (of ``product``, of ``client_id``, when given), oldest first."""
        match: dict[str, Any] = {"workspace_id": workspace_id, **NOT_SIGNED_IN}
        for name, value in (("product", product), ("client_id", client_id)):
            if value is not None:
                match[name] = value
        return [_ticket(doc) async for doc in self._tickets.find(match).sort(BY_TIME)]

    async def line_ticket_ids(self, workspace_id: str) -> list[str]:
        """Return the ids of every line-door ticket of the workspace."""
        match = {"workspace_id": workspace_id, **NOT_SIGNED_IN}
        return [doc["_id"] async for doc in self._tickets.find(match, {"_id": 1})]

    async def tickets_ahead(self, ticket: Ticket) -> int:
        """Return how many open tickets of the same holder and workspace were created before ``ticket``."""
        return await self._tickets.count_documents(
            {
                "workspace_id": ticket.workspace_id,
                **NOT_SIGNED_IN,
                "assignee_id": ticket.assignee_id,
                "status": {"$ne": "closed"},
                "$or": [
                    {"created_at": {"$lt": ticket.created_at}},
                    {"created_at": ticket.created_at, "_id": {"$lt": ticket.id}},
                ],
            }
        )

    async def _change(
        self,
        match: dict[str, Any],
        changes: dict[str, Any],
        move: Callable[[Ticket], Iterable[tuple[str, int]]],
        heir: str | None = None,
    ) -> Ticket | None:
        """Apply a conditional ticket update and the count changes ``move`` asks of it, in one transaction.

        ``Conflict`` (nothing written) if ``heir``'s count is to move and they have no member document any more; a
        signed-in non-member gaining load (a ticket made active again after its assignee left) loses the ticket.
        """

        async def attempt(session: AsyncClientSession) -> Ticket | None:
            doc = await self._tickets.find_one_and_update(
                match, {"$set": changes}, return_document=ReturnDocument.AFTER, session=session
            )
            if doc is None:
                return None
            changed = _ticket(doc)
            for user_id, delta in move(changed):
                counted = await self._move(changed, user_id, delta, session)
                if user_id == heir and not counted:
                    raise Conflict("the assignee is no longer a member of the workspace", {"assignee_id": heir})
                if delta > 0 and not counted and changed.door == SIGNED_IN_DOOR:  # its assignee left: nobody's now
                    doc = await self._tickets.find_one_and_update(
                        {"_id": changed.id},
                        {"$set": {"assignee_id": None}},
                        return_document=ReturnDocument.AFTER,
                        session=session,
                    )
                    changed = _ticket(doc)
            return changed

        return await self._db.transaction(attempt)

    async def set_status(
        self, ticket_id: str, expected: TicketStatus, status: TicketStatus, now: datetime
    ) -> Ticket | None:
        """Move the ticket from ``expected`` to ``status``, and its holder's count with it, in one transaction.

        A signed-in ticket made active again whose assignee is no longer a member becomes unassigned in the same
        step.
        """

        def move(changed: Ticket) -> list[tuple[str, int]]:
            was, became = expected in ACTIVE, status in ACTIVE
            return [(changed.assignee_id, 1 if became else -1)] if changed.assignee_id and was != became else []

        match = {"_id": ticket_id, "status": expected.value}
        return await self._change(match, {"status": status.value, "updated_at": now}, move)

    async def set_assignee(
        self, ticket_id: str, expected: str | None, assignee_id: str, now: datetime
    ) -> Ticket | None:
        """Give the ticket to ``assignee_id`` if still ``expected``'s, moving its count too, in one transaction.

        ``Conflict`` (nothing written) if the ticket is active and ``assignee_id`` has no member document any more.
        """

        def move(changed: Ticket) -> list[tuple[str, int]]:
            if changed.status not in ACTIVE or expected == assignee_id:
                return []
            return [(assignee_id, 1), *([(expected, -1)] if expected else [])]

        match = {
            "_id": ticket_id,
            "assignee_id": expected,
            "$or": [{"door": SIGNED_IN_DOOR}, {"status": TicketStatus.OPEN.value}],
        }
        return await self._change(match, {"assignee_id": assignee_id, "updated_at": now}, move, heir=assignee_id)
