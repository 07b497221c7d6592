"""Queue documents on MongoDB shared by the queue stores: ids, converters and the live-office check.

A press, a recall, a no-show, a take and every office change each run as one multi-document
transaction; the rest are single-document atomic updates. Transactions need a replica set (one node is enough).
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.errors import NotFound
from models.queue import QueueNumber, Service

AFTER = ReturnDocument.AFTER
BEFORE = ReturnDocument.BEFORE
LIVE = {"deleted_at": None}


def window_id(ref: str, number: int) -> str:
    """Return the document id of an office window."""
    return f"{ref}#{number}"


def check_live(doc: dict[str, Any] | None, ref: str) -> dict[str, Any]:
    """Raise ``NotFound`` unless the office exists and is not deleted."""
    if doc is None:
        raise NotFound(f"no office with reference {ref}", {"ref_office": ref})
    if doc.get("deleted_at") is not None:
        raise NotFound(f"office {ref} was deleted", {"ref_office": ref, "deleted": True})
    return doc


def service_of(doc: dict[str, Any]) -> Service:
    """Return the service stored in ``doc``."""
    return Service.model_validate({**doc, "id": doc["_id"]})


def number_of(doc: dict[str, Any]) -> QueueNumber:
    """Return the virtual number stored in ``doc``."""
    return QueueNumber.model_validate({**doc, "id": doc["_id"]})


async def live_office(
    offices: AsyncCollection[dict[str, Any]], ref: str, session: AsyncClientSession | None = None
) -> dict[str, Any]:
    """Return the live office's document (inside the caller's transaction when given its session), else NotFound."""
    return check_live(await offices.find_one({"_id": ref}, session=session), ref)


def new_window(ref: str, number: int, agent_id: str | None = None) -> dict[str, Any]:
    """Return the document of a fresh window of an office."""
    return {
        "_id": window_id(ref, number),
        "ref_office": ref,
        "number_window": number,
        "agent_id": agent_id,
        "served": 0,
        "no_shows": 0,
        "current_number": None,
    }
