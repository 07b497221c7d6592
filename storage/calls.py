"""Call repository: each call's state machine, moved on only by conditional updates."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from models.calls import Call, CallProtocol, CallState, EndReason
from storage.database import Database


class CallStore(Protocol):
    """Domain operations on calls; a transition returns None when the call was not in the needed state."""

    async def init(self) -> None:
        """Create tables or indexes if missing."""

    async def create(self, call: Call) -> None:
        """Store a new (ringing) call."""

    async def get(self, call_id: str) -> Call:
        """Return one call; ``NotFound`` if unknown."""

    async def answer(self, call_id: str, user_id: str | None, sid: str, instance_id: str, now: datetime) -> Call | None:
        """ringing -> active for the answering socket, if still ringing before its deadline; else None.

        A user is a party (caller or answerer) of at most one active call: when the answerer or the
        caller already is, nothing changes and ``Conflict`` (reason ``busy``) is raised. The database
        decides this in the same atomic write, so two answers at once cannot both hold one user.
        """

    async def reject(self, call_id: str, user_id: str) -> Call | None:
        """Record that an invited user declined a ringing call; return the call, or None if not ringing."""

    async def end(
        self, call_id: str, reason: EndReason, by: str | None, now: datetime, states: tuple[CallState, ...]
    ) -> Call | None:
        """Move the call to ended if it is in one of ``states``; else None (someone else ended it first)."""

    async def open_calls_of_socket(self, sid: str) -> list[Call]:
        """Return the ringing or active calls this socket placed or answered."""

    async def ringing_for(self, protocol: CallProtocol, refs: list[str]) -> list[Call]:
        """Return the ringing calls of ``protocol`` inviting any of ``refs`` (user or socket ids), newest first."""

    async def busy(self, user_ids: list[str]) -> set[str]:
        """Return those of ``user_ids`` who are a party (caller or answerer) of an active call."""

    async def expire_ringing(self, now: datetime) -> list[Call]:
        """End as missed every call still ringing at its deadline; return the calls this call ended."""

    async def end_calls_of_instance(self, instance_id: str, now: datetime) -> list[Call]:
        """End every open call with a party on a dead instance; return the calls this call ended."""


def make_call_store(db: Database) -> CallStore:
    """Return the call store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.calls import MongoCallStore

        return MongoCallStore(db)  # type: ignore[arg-type]
    from storage.sqlite.calls import SqliteCallStore

    return SqliteCallStore(db)  # type: ignore[arg-type]
