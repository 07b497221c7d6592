"""Pick-the-least-loaded-and-count-it on MongoDB, safe on servers that re-check filters but not sorts."""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.errors import Conflict

MAX_ROUNDS = 200


async def claim_least(
    collection: AsyncCollection[dict[str, Any]],
    query: dict[str, Any],
    field: str,
    sort: list[tuple[str, int]],
    session: AsyncClientSession | None = None,
) -> dict[str, Any] | None:
    """Add 1 to ``field`` of the document matching ``query`` that sorts first; return it (after) or None.

    One ``find_one_and_update`` sorted by load, conditioned on the lowest load just read: if a
    concurrent claim took that load level first, the filter no longer matches and we re-read.
    Every round at least one claimer wins, so this ends; the result never skips a lower load.
    Inside a transaction (``session``) a concurrent claim of the same document is a write
    conflict instead, and the caller's ``with_transaction`` retries the whole transaction.
    """
    for _ in range(MAX_ROUNDS):
        lowest = await collection.find_one(query, {field: 1}, sort=sort, session=session)
        if lowest is None:
            return None
        doc = await collection.find_one_and_update(
            {**query, field: lowest[field]},
            {"$inc": {field: 1}},
            sort=sort,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if doc is not None:
            return doc
    raise Conflict("too many concurrent assignments; try again")
