"""Ticket activity reads on MongoDB (the unified ``tickets`` and ``ticket_messages`` collections), and the record of
when each ticket became resolved or closed (``ticket_resolutions``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.helpdesk_stats import STAFF_AUTHOR_ROLES, TicketResolution, TicketTimes
from storage.mongo.db import MongoDatabase
from storage.mongo.tickets import MESSAGES, TICKETS


class MongoHelpdeskStatsStore:
    """A bounded find of the range's tickets, one aggregation for their first answers, one for the backlog."""

    def __init__(self, db: MongoDatabase) -> None:
        self._tickets = db.db[TICKETS]
        self._messages = db.db[MESSAGES]
        self._done = db.db["ticket_resolutions"]

    async def init(self) -> None:
        """Nothing to index: the record is read by ``_id`` (the ticket id); the ticket collections are not ours."""

    async def ticket_times(self, workspace_id: str, start: datetime, end: datetime, limit: int) -> list[TicketTimes]:
        """Return up to ``limit`` tickets created in ``[start, end)`` or now resolved/closed and touched since
        ``start`` (a done ticket's ``done_at`` is never after its ``updated_at``)."""
        query = {
            "workspace_id": workspace_id,
            "created_at": {"$lt": end},
            "$or": [
                {"created_at": {"$gte": start}},
                {"status": {"$in": ["resolved", "closed"]}, "updated_at": {"$gte": start}},
            ],
        }
        fields = {"assignee_id": 1, "status": 1, "created_at": 1, "updated_at": 1}
        docs = [doc async for doc in self._tickets.find(query, fields).limit(limit)]
        ids = [doc["_id"] for doc in docs]
        first = await self._first_answers(ids)
        done = {d["_id"]: d async for d in self._done.find({"_id": {"$in": ids}})} if ids else {}
        return [
            TicketTimes(
                ticket_id=doc["_id"],
                assignee_id=doc.get("assignee_id"),
                status=doc["status"],
                created_at=doc["created_at"],
                done_at=_done_at(doc, done.get(doc["_id"])),
                first_response_at=first.get(doc["_id"]),
            )
            for doc in docs
        ]

    async def record_done(self, ticket_id: str, workspace_id: str, status: str, at: datetime) -> None:
        """Remember that the ticket became ``status`` (resolved or closed) at ``at``."""
        fields = {"workspace_id": workspace_id, "status": status, "at": at}
        await self._done.update_one({"_id": ticket_id}, {"$set": fields}, upsert=True)

    async def forget_done(self, ticket_id: str) -> None:
        """Forget the ticket's record (it was reopened)."""
        await self._done.delete_one({"_id": ticket_id})

    async def list_done(self, workspace_id: str) -> list[TicketResolution]:
        """Return the resolution records of the workspace's tickets, by ticket id."""
        cursor = self._done.find({"workspace_id": workspace_id}).sort("_id", 1)
        return [
            TicketResolution(ticket_id=d["_id"], workspace_id=d["workspace_id"], status=d["status"], at=d["at"])
            async for d in cursor
        ]

    async def _first_answers(self, ticket_ids: list[str]) -> dict[str, datetime]:
        """Return the time of the first staff message of each ticket that has one."""
        if not ticket_ids:
            return {}
        pipeline: list[dict[str, Any]] = [
            {"$match": {"ticket_id": {"$in": ticket_ids}, "author_role": {"$in": list(STAFF_AUTHOR_ROLES)}}},
            {"$group": {"_id": "$ticket_id", "first": {"$min": "$created_at"}}},
        ]
        cursor = await self._messages.aggregate(pipeline)
        return {doc["_id"]: doc["first"] async for doc in cursor}

    async def backlog(self, workspace_id: str) -> list[tuple[str | None, str, int]]:
        """Return ``(assignee_id, status, count)`` of the workspace's tickets that are not closed, now."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"workspace_id": workspace_id, "status": {"$ne": "closed"}}},
            {"$group": {"_id": {"assignee_id": "$assignee_id", "status": "$status"}, "n": {"$sum": 1}}},
        ]
        cursor = await self._tickets.aggregate(pipeline)
        return [(doc["_id"].get("assignee_id"), doc["_id"]["status"], doc["n"]) async for doc in cursor]


def _done_at(ticket: dict[str, Any], record: dict[str, Any] | None) -> datetime:
    """Return when the ticket entered its status: the record's time when it names that status, else updated_at."""
    if record is not None and record["status"] == ticket["status"]:
        return record["at"]  # type: ignore[no-any-return]
    return ticket["updated_at"]  # type: ignore[no-any-return]
