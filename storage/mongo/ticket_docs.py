"""The one ticket collection and message history on MongoDB, whichever door a ticket came in by, and its migration.

``tickets.door`` is ``signed_in`` (helpdesk), ``dowell`` (a workspace-key holder) or ``widget`` (a ``visitor-``
user); the Dowell fields map as in ``storage.sqlite.tickets``. ``init_tickets`` copies the documents today's main
wrote (``support_tickets``, ``support_messages``, ``hd_tickets``, ``hd_messages``) once with idempotent upserts
(``$setOnInsert`` by ``_id``) and records it in ``migrations``; the old collections are kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from models.tickets import TicketQuery, TicketStatus
from storage.mongo.db import MongoDatabase

TICKETS = "tickets"
MESSAGES = "ticket_messages"
MIGRATION = "tickets-one"
SIGNED_IN: dict[str, Any] = {"door": "signed_in"}
NOT_SIGNED_IN: dict[str, Any] = {"door": {"$ne": "signed_in"}}
BY_TIME = [("created_at", ASCENDING), ("_id", ASCENDING)]
NEWEST = [("created_at", DESCENDING), ("_id", DESCENDING)]


def door_of(user_id: str) -> str:
    """Return the door a Dowell-shaped ticket of ``user_id`` came in by (``widget`` for a visitor)."""
    return "widget" if user_id.startswith("visitor-") else "dowell"


def dowell_ticket_doc(t: dict[str, Any]) -> dict[str, Any]:
    """Return the unified document of a Dowell-shaped ticket document (``_id``, ``user_id``, ``line_manager``...)."""
    return {
        "_id": t["_id"],
        "door": door_of(t["user_id"]),
        "workspace_id": t["workspace_id"],
        "category_id": None,
        "product": t["product"],
        "client_id": t["user_id"],
        "title": "",
        "body": "",
        "attachments": [],
        "status": "closed" if t.get("is_closed") else "open",
        "assignee_id": t["line_manager"],
        "created_at": t["created_at"],
        "updated_at": t["updated_at"],
    }


def dowell_message_doc(m: dict[str, Any]) -> dict[str, Any]:
    """Return the unified document of a Dowell-shaped message document (``author``, ``message_data``...)."""
    return {
        "_id": m["_id"],
        "ticket_id": m["ticket_id"],
        "workspace_id": m["workspace_id"],
        "product": m["product"],
        "author_id": m["author"],
        "author_role": "visitor" if door_of(m["author"]) == "widget" else "dowell",
        "body": m["message_data"],
        "reply_to": m.get("reply_to"),
        "attachments": m.get("attachments") or [],
        "is_read": bool(m.get("is_read")),
        "created_at": m["created_at"],
    }


def doc_in(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a stored document with ``id`` for ``_id`` (to validate a model)."""
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


def doc_out(model: Any) -> dict[str, Any]:
    """Return the document a model is stored as (``_id`` for ``id``)."""
    doc = model.model_dump(mode="python")
    doc["_id"] = doc.pop("id")
    return dict(doc)


def ticket_filter(query: TicketQuery, after: tuple[datetime, str] | None) -> dict[str, Any]:
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


async def init_tickets(db: MongoDatabase) -> None:
    """Create the unified ticket indexes if missing, then copy today's ``support_*``/``hd_*`` documents once."""
    tickets, messages, migrations = db.db[TICKETS], db.db[MESSAGES], db.db["migrations"]
    await tickets.create_index(NEWEST)
    await tickets.create_index([("workspace_id", ASCENDING), ("status", ASCENDING), *NEWEST])
    await tickets.create_index([("client_id", ASCENDING), *NEWEST])
    await tickets.create_index([("assignee_id", ASCENDING), *NEWEST])
    await tickets.create_index("category_id")
    await tickets.create_index([("workspace_id", ASCENDING), ("product", ASCENDING), *BY_TIME])
    await tickets.create_index([("workspace_id", ASCENDING), ("client_id", ASCENDING), *BY_TIME])
    await tickets.create_index(
        [("workspace_id", ASCENDING), ("assignee_id", ASCENDING), ("status", ASCENDING), *BY_TIME]
    )
    await messages.create_index([("ticket_id", ASCENDING), *BY_TIME])
    if await migrations.find_one({"_id": MIGRATION}) is not None:
        return

    async def copy(source: str, target: Any, convert: Any) -> None:
        async for doc in db.db[source].find().sort(BY_TIME):
            await target.update_one({"_id": doc["_id"]}, {"$setOnInsert": convert(doc)}, upsert=True)

    workspaces: dict[str, str] = {}

    def signed_in_ticket(doc: dict[str, Any]) -> dict[str, Any]:
        workspaces[doc["_id"]] = doc["workspace_id"]
        return {**doc, "door": "signed_in", "product": None}

    def signed_in_message(doc: dict[str, Any]) -> dict[str, Any]:
        extra = {"workspace_id": workspaces.get(doc["ticket_id"]), "product": None, "reply_to": None}
        return {**doc, **extra, "is_read": False}

    await copy("support_tickets", tickets, dowell_ticket_doc)
    await copy("support_messages", messages, dowell_message_doc)
    await copy("hd_tickets", tickets, signed_in_ticket)
    await copy("hd_messages", messages, signed_in_message)
    at = datetime.now(UTC)
    await migrations.update_one({"_id": MIGRATION}, {"$setOnInsert": {"at": at}}, upsert=True)
