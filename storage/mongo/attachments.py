"""Attachments on MongoDB: bytes in GridFS (bucket ``attachments``), records in a collection."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from models.attachments import AttachmentRecord, TicketKind
from models.errors import Conflict, NotFound
from storage.attachments import CHUNK
from storage.mongo.db import MongoDatabase

RECORDS = "attachment_records"
USAGE = "attachment_usage"


class MongoAttachmentStore:
    """Attachment bytes in GridFS under the attachment's id."""

    def __init__(self, db: MongoDatabase) -> None:
        self._bucket = AsyncGridFSBucket(db.db, bucket_name="attachments", chunk_size_bytes=4 * CHUNK)
        self._records = db.db[RECORDS]
        self._usage = db.db[USAGE]

    async def init(self) -> None:
        """Create the record indexes if missing (GridFS makes its own)."""
        await self._records.create_index("ticket_id")
        await self._records.create_index([("ticket_id", 1), ("created_at", 1)])
        await self._usage.create_index("window")

    async def write(self, attachment_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        """Stream into GridFS; abort the upload (dropping written chunks) if ``chunks`` raises."""
        upload = self._bucket.open_upload_stream_with_id(attachment_id, name)
        size = 0
        try:
            async for chunk in chunks:
                await upload.write(chunk)
                size += len(chunk)
        except BaseException:
            await upload.abort()
            raise
        await upload.close()
        return size

    async def delete_bytes(self, attachment_id: str) -> None:
        """Delete the GridFS file (no error if absent)."""
        try:
            await self._bucket.delete(attachment_id)
        except NoFile:
            pass

    async def add(self, record: AttachmentRecord) -> None:
        """Store an attachment's record."""
        doc = record.model_dump()
        doc["_id"] = doc.pop("id")
        await self._records.insert_one(doc)

    async def add_within_quota(self, record: AttachmentRecord, owner: str, window: int, quota: int) -> bool:
        """Add the size to the window's counter with a conditional update, then insert the record (undoing the
        count if that fails)."""
        if not await self._count(owner, window, record.size, quota):
            return False
        try:
            await self.add(record)
        except BaseException:
            await self._usage.update_one({"_id": _usage_id(owner, window)}, {"$inc": {"bytes": -record.size}})
            raise
        return True

    async def _count(self, owner: str, window: int, size: int, quota: int) -> bool:
        """Add ``size`` to the counter while it stays within ``quota``; a missing counter is created."""
        if size > quota:
            return False
        key = {"_id": _usage_id(owner, window)}
        try:
            await self._usage.update_one(
                {**key, "bytes": {"$lte": quota - size}},
                {"$inc": {"bytes": size}, "$setOnInsert": {"owner": owner, "window": window}},
                upsert=True,
            )
            return True
        except DuplicateKeyError:  # the counter exists and is too full, or another upload created it just now
            result = await self._usage.update_one({**key, "bytes": {"$lte": quota - size}}, {"$inc": {"bytes": size}})
            return bool(result.modified_count)

    async def usage(self, owner: str, window: int) -> int:
        """Return the bytes ``owner`` uploaded in the window."""
        doc = await self._usage.find_one({"_id": _usage_id(owner, window)})
        return int(doc["bytes"]) if doc else 0

    async def drop_usage_before(self, window: int) -> None:
        """Delete the counters of earlier windows."""
        await self._usage.delete_many({"window": {"$lt": window}})

    async def unlinked_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Return ids of unreferenced uploads made before ``cutoff``, oldest first."""
        cursor = self._records.find({"ticket_id": None, "created_at": {"$lt": cutoff}}, {"_id": 1})
        return [str(doc["_id"]) async for doc in cursor.sort("created_at", 1).limit(limit)]

    async def delete_if_unlinked(self, attachment_id: str) -> bool:
        """Delete the record only while unreferenced (a conditional delete), then its GridFS file."""
        result = await self._records.delete_one({"_id": attachment_id, "ticket_id": None})
        if not result.deleted_count:
            return False
        await self.delete_bytes(attachment_id)
        return True

    async def get(self, attachment_id: str) -> AttachmentRecord:
        """Return one record; ``NotFound`` if unknown."""
        doc = await self._records.find_one({"_id": attachment_id})
        if doc is None:
            raise NotFound("no such attachment", {"attachment_id": attachment_id})
        return AttachmentRecord.model_validate({**doc, "id": doc["_id"]})

    async def read(self, attachment_id: str) -> AsyncIterator[bytes]:
        """Yield the GridFS file chunk by chunk."""
        try:
            stream = await self._bucket.open_download_stream(attachment_id)
        except NoFile as exc:
            raise NotFound("no such attachment", {"attachment_id": attachment_id}) from exc
        try:
            while chunk := await stream.readchunk():
                yield chunk
        finally:
            await stream.close()


def _usage_id(owner: str, window: int) -> str:
    """Return the id of an uploader's quota counter for one window."""
    return f"{owner}|{window}"


async def link_all(
    records: AsyncCollection[dict[str, Any]],
    ids: list[str],
    uploader_id: str | None,
    workspace_id: str | None,
    kind: TicketKind,
    ticket_id: str,
    session: AsyncClientSession,
    into_workspace: str | None = None,
) -> None:
    """Within ``session``'s transaction: link every one of the uploader's uploads (a user's, or a workspace key's),
    or raise ``Conflict`` (aborting it).

    The error names the first id that is not (any more) an unlinked upload of theirs. With ``into_workspace``
    (a signed-in user's upload in a Dowell or widget ticket) the upload then belongs to that workspace too.
    """
    owner = {"ticket_id": None, "uploader_id": uploader_id, "workspace_id": workspace_id}
    link: dict[str, Any] = {"ticket_kind": kind, "ticket_id": ticket_id}
    if into_workspace is not None:
        link["workspace_id"] = into_workspace
    for attachment_id in ids:
        result = await records.update_one({"_id": attachment_id, **owner}, {"$set": link}, session=session)
        if not result.modified_count:
            raise Conflict("this attachment is already part of a ticket", {"attachment_id": attachment_id})
