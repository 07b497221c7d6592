"""Ticket activity reads on MongoDB (the unified ``tickets`` and ``ticket_messages`` collections)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.helpdesk_stats import STAFF_AUTHOR_ROLES, TicketTimes
from storage.mongo.db import MongoDatabase
from storage.mongo.tickets import MESSAGES, TICKETS


class MongoHelpdeskStatsStore:
    """A bounded find of the range's tickets, one aggregation for their first answers, one for the backlog."""

    def __init__(self, db: MongoDatabase) -> None:
        self._tickets = db.db[TICKETS]
        self._messages = db.db[MESSAGES]

    async def init(self) -> None:
        """Nothing to create: the ticket collections and their indexes belong to the ticket stores."""

    async def ticket_times(self, workspace_id: str, start: datetime, end: datetime, limit: int) -> list[TicketTimes]:
        """Return up to ``limit`` tickets created in ``[start, end)`` or resolved/closed with ``updated_at`` in it."""
        span = {"$gte": start, "$lt": end}
        query = {
            "workspace_id": workspace_id,
            "$or": [{"created_at": span}, {"status": {"$in": ["resolved", "closed"]}, "updated_at": span}],
        }
        fields = {"assignee_id": 1, "status": 1, "created_at": 1, "updated_at": 1}
        docs = [doc async for doc in self._tickets.find(query, fields).limit(limit)]
        first = await self._first_answers([doc["_id"] for doc in docs])
        return [
            TicketTimes(
                ticket_id=doc["_id"],
                assignee_id=doc.get("assignee_id"),
                status=doc["status"],
                created_at=doc["created_at"],
                updated_at=doc["updated_at"],
                first_response_at=first.get(doc["_id"]),
            )
            for doc in docs
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
