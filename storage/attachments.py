"""Attachment repository: file bytes (a folder on SQLite, GridFS on MongoDB) and their records."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import Protocol

from config import Settings
from models.attachments import AttachmentRecord, TicketKind
from storage.database import Database

CHUNK = 64 * 1024


def link_kind(door: str, workspace_id: str) -> tuple[TicketKind, str | None]:
    """Return how a signed-in user's upload is linked to a ticket of ``door``: its kind, and the workspace it then
    belongs to (a Dowell or widget ticket's, so that the key holders and the ticket's visitor may download it)."""
    return ("helpdesk", None) if door == "signed_in" else ("support", workspace_id)


class AttachmentStore(Protocol):
    """Domain operations on attachments; raises ``NotFound``.

    Linking an upload to a ticket or message is written by the helpdesk and support stores, in the
    same transaction as the ticket or message (``tx_link_all`` on SQLite, ``link_all`` on MongoDB).
    """

    async def init(self) -> None:
        """Create folders, tables or indexes if missing."""

    async def write(self, attachment_id: str, name: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the bytes of a new attachment and return their count; nothing stays if ``chunks`` raises."""

    async def delete_bytes(self, attachment_id: str) -> None:
        """Forget the bytes of an attachment (no error if absent)."""

    async def add(self, record: AttachmentRecord) -> None:
        """Store an attachment's record (after its bytes)."""

    async def add_within_quota(self, record: AttachmentRecord, owner: str, window: int, quota: int) -> bool:
        """Count ``record.size`` against ``owner``'s bytes of quota window ``window`` and store the record, or do
        neither and return False when that would pass ``quota`` (one atomic step)."""

    async def usage(self, owner: str, window: int) -> int:
        """Return the bytes ``owner`` uploaded in quota window ``window``."""

    async def drop_usage_before(self, window: int) -> None:
        """Forget the quota counters of windows before ``window``."""

    async def unlinked_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Return ids of uploads made before ``cutoff`` that no ticket or message references (oldest first)."""

    async def delete_if_unlinked(self, attachment_id: str) -> bool:
        """Delete the record and bytes of an upload if still unreferenced; return whether this call deleted it."""

    async def get(self, attachment_id: str) -> AttachmentRecord:
        """Return one record; ``NotFound`` if unknown."""

    def read(self, attachment_id: str) -> AsyncIterator[bytes]:
        """Yield the attachment's bytes in chunks."""


def make_attachment_store(db: Database, settings: Settings) -> AttachmentStore:
    """Return the attachment store of the database's backend."""
    if db.kind == "mongo":
        from storage.mongo.attachments import MongoAttachmentStore

        return MongoAttachmentStore(db)  # type: ignore[arg-type]
    from storage.sqlite.attachments import SqliteAttachmentStore

    return SqliteAttachmentStore(db, settings.data_dir / "attachments")  # type: ignore[arg-type]
