"""Attachments on MongoDB: bytes in GridFS (bucket ``attachments``), records in a collection."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from models.attachments import AttachmentRecord, TicketKind
from models.errors import Conflict, NotFound
from storage.attachments import CHUNK
from storage.mongo.db import MongoDatabase

RECORDS = "attachment_records"


class MongoAttachmentStore:
    """Attachment bytes in GridFS under the attachment's id."""

    def __init__(self, db: MongoDatabase) -> None:
        self._bucket = AsyncGridFSBucket(db.db, bucket_name="attachments", chunk_size_bytes=4 * CHUNK)
        self._records = db.db[RECORDS]

    async def init(self) -> None:
        """Create the record index if missing (GridFS makes its own)."""
        await self._records.create_index("ticket_id")

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


async def link_all(
    records: AsyncCollection[dict[str, Any]],
    ids: list[str],
    uploader_id: str | None,
    workspace_id: str | None,
    kind: TicketKind,
    ticket_id: str,
    session: AsyncClientSession,
) -> None:
    """Within ``session``'s transaction: link every one of the uploader's uploads (a user's, or a workspace key's),
    or raise ``Conflict`` (aborting it).

    The error names the first id that is not (any more) an unlinked upload of theirs.
    """
    owner = {"ticket_id": None, "uploader_id": uploader_id, "workspace_id": workspace_id}
    for attachment_id in ids:
        result = await records.update_one(
            {"_id": attachment_id, **owner}, {"$set": {"ticket_kind": kind, "ticket_id": ticket_id}}, session=session
        )
        if not result.modified_count:
            raise Conflict("this attachment is already part of a ticket", {"attachment_id": attachment_id})
