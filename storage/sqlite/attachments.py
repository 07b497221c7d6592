"""Attachments on the embedded backend: bytes in DATA_DIR/attachments, records in SQLite."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from models.attachments import AttachmentRecord, TicketKind
from models.errors import Conflict, NotFound
from storage.attachments import CHUNK
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS attachments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    uploader_id TEXT,
    workspace_id TEXT,
    ticket_kind TEXT,
    ticket_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_unlinked ON attachments (created_at) WHERE ticket_id IS NULL;
CREATE TABLE IF NOT EXISTS attachment_usage (
    owner TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (owner, window_start)
)
"""

# Adds the size to the window's counter, only while the sum stays within the quota (a new counter too).
_COUNT_USAGE = (
    "INSERT INTO attachment_usage (owner, window_start, bytes) SELECT ?, ?, ? WHERE ? <= ? "
    "ON CONFLICT (owner, window_start) DO UPDATE SET bytes = bytes + excluded.bytes "
    "WHERE attachment_usage.bytes + excluded.bytes <= ?"
)

_FIELDS = (
    "id",
    "name",
    "size",
    "content_type",
    "uploader_id",
    "workspace_id",
    "ticket_kind",
    "ticket_id",
    "created_at",
)


async def init_records(db: SqliteDatabase) -> None:
    """Create the attachment tables if missing (for the stores that link uploads to their tickets)."""
    await db.create_schema(SCHEMA)


class SqliteAttachmentStore:
    """Attachment bytes as files named by id (never by the uploaded name)."""

    def __init__(self, db: SqliteDatabase, folder: Path) -> None:
        self._db = db
        self._folder = folder

    def _path(self, attachment_id: str) -> Path:
        if not attachment_id.isalnum():
            raise NotFound("no such attachment", {"attachment_id": attachment_id})
        return self._folder / attachment_id

    async def init(self) -> None:
        """Create the folder and the table if missing."""
        await asyncio.to_thread(self._folder.mkdir, parents=True, exist_ok=True)
        await init_records(self._db)

    async def write(self, attachment_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        """Write to a temporary file, then rename it into place; remove it if ``chunks`` raises."""
        final = self._path(attachment_id)
        partial = final.with_suffix(".part")
        handle = await asyncio.to_thread(partial.open, "wb")
        size = 0
        try:
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
                size += len(chunk)
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, partial, final)
        except BaseException:
            await asyncio.to_thread(handle.close)
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            raise
        return size

    async def delete_bytes(self, attachment_id: str) -> None:
        """Remove the file (no error if absent)."""
        await asyncio.to_thread(self._path(attachment_id).unlink, missing_ok=True)

    async def add(self, record: AttachmentRecord) -> None:
        """Store an attachment's record."""
        values: dict[str, Any] = record.model_dump()
        values["created_at"] = iso(record.created_at)
        await self._db.execute(
            f"INSERT INTO attachments ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
            [values[f] for f in _FIELDS],
        )

    async def add_within_quota(self, record: AttachmentRecord, owner: str, window: int, quota: int) -> bool:
        """Count the size in the window's counter and insert the record in one transaction, or neither."""
        values: dict[str, Any] = record.model_dump()
        values["created_at"] = iso(record.created_at)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(_COUNT_USAGE, (owner, window, record.size, record.size, quota, quota))
            if not cursor.rowcount:
                return False
            await conn.execute(
                f"INSERT INTO attachments ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
                [values[f] for f in _FIELDS],
            )
        return True

    async def usage(self, owner: str, window: int) -> int:
        """Return the bytes ``owner`` uploaded in the window."""
        row = await self._db.fetch_one(
            "SELECT bytes FROM attachment_usage WHERE owner = ? AND window_start = ?", (owner, window)
        )
        return int(row["bytes"]) if row else 0

    async def drop_usage_before(self, window: int) -> None:
        """Delete the counters of earlier windows."""
        await self._db.execute("DELETE FROM attachment_usage WHERE window_start < ?", (window,))

    async def unlinked_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Return ids of unreferenced uploads made before ``cutoff``, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT id FROM attachments WHERE ticket_id IS NULL AND created_at < ? ORDER BY created_at LIMIT ?",
            (iso(cutoff), limit),
        )
        return [str(row["id"]) for row in rows]

    async def delete_if_unlinked(self, attachment_id: str) -> bool:
        """Delete the row only while unreferenced (a conditional delete), then its file."""
        if not await self._db.execute("DELETE FROM attachments WHERE id = ? AND ticket_id IS NULL", (attachment_id,)):
            return False
        await self.delete_bytes(attachment_id)
        return True

    async def get(self, attachment_id: str) -> AttachmentRecord:
        """Return one record; ``NotFound`` if unknown."""
        row = await self._db.fetch_one(f"SELECT {', '.join(_FIELDS)} FROM attachments WHERE id = ?", (attachment_id,))
        if row is None:
            raise NotFound("no such attachment", {"attachment_id": attachment_id})
        return AttachmentRecord.model_validate({**dict(row), "created_at": from_iso(row["created_at"])})

    async def read(self, attachment_id: str) -> AsyncIterator[bytes]:
        """Yield the file in chunks."""
        handle = await asyncio.to_thread(self._path(attachment_id).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)


async def tx_link_all(
    conn: aiosqlite.Connection,
    ids: list[str],
    uploader_id: str | None,
    workspace_id: str | None,
    kind: TicketKind,
    ticket_id: str,
    into_workspace: str | None = None,
) -> None:
    """Inside an open transaction: link every one of the uploader's uploads (a user's, or a workspace key's), or
    raise ``Conflict`` (rolling it back).

    The error names the first id that is not (any more) an unlinked upload of theirs. With ``into_workspace``
    (a signed-in user's upload in a Dowell or widget ticket) the upload then belongs to that workspace too.
    """
    for attachment_id in ids:
        cursor = await conn.execute(
            "UPDATE attachments SET ticket_kind = ?, ticket_id = ?, workspace_id = COALESCE(?, workspace_id) "
            "WHERE id = ? AND ticket_id IS NULL AND uploader_id IS ? AND workspace_id IS ?",
            (kind, ticket_id, into_workspace, attachment_id, uploader_id, workspace_id),
        )
        if not cursor.rowcount:
            raise Conflict("this attachment is already part of a ticket", {"attachment_id": attachment_id})
