"""The message half of the ticket store on SQLite (``SqliteTicketStore``): one history (``ticket_messages``),
written by the writer's rule (a signed-in user, or at a line door) and read as one record, the Dowell read flags
and the signed-in read markers.

A message and the attachments it links are written in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json
from typing import Any

from models.errors import Conflict, NotFound
from models.tickets import LINE_ROLES, MessageRecord, ReadMarker, TicketStatus
from storage.attachments import link_kind
from storage.sqlite.attachments import tx_link_all
from storage.sqlite.convert import from_iso, iso
from storage.sqlite.db import SqliteDatabase, tx_fetch_one
from storage.sqlite.ticket_rows import MESSAGE, READ, marker_of

_RECORD = (
    "id, ticket_id, workspace_id, product, author_id, author_role, body, reply_to, attachments, is_read, created_at"
)


def _record(row: Any) -> MessageRecord:
    values = dict(row)
    values["created_at"] = from_iso(values["created_at"])
    values["is_read"] = bool(values["is_read"])
    values["attachments"] = json.loads(values["attachments"])
    return MessageRecord.model_validate(values)


class SqliteTicketMessages:
    """The message operations of ``SqliteTicketStore``."""

    _db: SqliteDatabase

    async def add_message(self, message: MessageRecord, uploader_id: str | None = None) -> None:
        """Store a message and link the attachments it names, by its writer's rule, in one transaction."""
        if message.author_role in LINE_ROLES:
            await self._add_line_message(message, uploader_id)
        else:
            await self._add_signed_in_message(message)

    async def _add_signed_in_message(self, message: MessageRecord) -> None:
        """Touch the ticket, store the message and link the author's attachments, in one transaction.

        ``NotFound``, or ``Conflict`` if the ticket is closed or an attachment is taken: nothing is written.
        """
        m = message
        async with self._db.transaction() as conn:
            touched = await tx_fetch_one(
                conn,
                "UPDATE tickets SET updated_at = ? WHERE id = ? AND status != ? RETURNING door, workspace_id",
                (iso(m.created_at), m.ticket_id, TicketStatus.CLOSED.value),
            )
            if touched is None:
                known = await tx_fetch_one(conn, "SELECT 1 FROM tickets WHERE id = ?", (m.ticket_id,))
                if known is None:
                    raise NotFound("no such ticket", {"ticket_id": m.ticket_id})
                raise Conflict("the ticket is closed", {"ticket_id": m.ticket_id})
            kind, into = link_kind(touched["door"], touched["workspace_id"])
            await tx_link_all(conn, m.attachments, m.author_id, None, kind, m.ticket_id, into)
            await conn.execute(
                f"INSERT INTO ticket_messages ({MESSAGE}, workspace_id, product) SELECT ?, ?, ?, ?, ?, ?, ?, "
                "workspace_id, product FROM tickets WHERE id = ?",
                (
                    m.id,
                    m.ticket_id,
                    m.author_id,
                    m.author_role,
                    m.body,
                    json.dumps(m.attachments),
                    iso(m.created_at),
                    m.ticket_id,
                ),
            )

    async def _add_line_message(self, message: MessageRecord, uploader_id: str | None) -> None:
        """Link the uploader's (default: the workspace key's) attachments and store the message, in one transaction."""
        m = message
        async with self._db.transaction() as conn:
            await tx_link_all(conn, m.attachments, uploader_id, m.workspace_id, "support", m.ticket_id)
            await conn.execute(
                f"INSERT INTO ticket_messages ({_RECORD}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    m.id,
                    m.ticket_id,
                    m.workspace_id,
                    m.product,
                    m.author_id,
                    m.author_role,
                    m.body,
                    m.reply_to,
                    json.dumps(m.attachments),
                    int(m.is_read),
                    iso(m.created_at),
                ),
            )

    async def get_message(self, ticket_id: str, message_id: str) -> MessageRecord | None:
        """Return one message of the ticket, or None."""
        row = await self._db.fetch_one(
            f"SELECT {_RECORD} FROM ticket_messages WHERE id = ? AND ticket_id = ?", (message_id, ticket_id)
        )
        return _record(row) if row else None

    async def list_messages(self, ticket_id: str, limit: int = 1000) -> list[MessageRecord]:
        """Return the ticket's newest ``limit`` messages, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_RECORD} FROM ticket_messages WHERE ticket_id = ? ORDER BY seq DESC LIMIT ?", (ticket_id, limit)
        )
        return [_record(r) for r in reversed(rows)]

    async def count_unread(self, ticket_id: str, reader: str) -> int:
        """Return how many messages of the ticket not written by ``reader`` are unread."""
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n FROM ticket_messages WHERE ticket_id = ? AND author_id != ? AND is_read = 0",
            (ticket_id, reader),
        )
        return int(row["n"]) if row else 0

    async def mark_read(self, ticket_id: str, reader: str) -> int:
        """Mark the ticket's messages not written by ``reader`` as read; return how many changed."""
        return await self._db.execute(
            "UPDATE ticket_messages SET is_read = 1 WHERE ticket_id = ? AND author_id != ? AND is_read = 0",
            (ticket_id, reader),
        )

    async def set_read(self, marker: ReadMarker) -> ReadMarker:
        """Move the read marker forward only, in one conditional upsert."""
        m = marker
        await self._db.execute(
            f"INSERT INTO hd_reads ({READ}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id, user_id) DO UPDATE SET "
            "message_id = excluded.message_id, message_at = excluded.message_at, at = excluded.at "
            "WHERE (excluded.message_at, excluded.message_id) > (hd_reads.message_at, hd_reads.message_id)",
            (m.ticket_id, m.user_id, m.message_id, iso(m.message_at), iso(m.at)),
        )
        row = await self._db.fetch_one(
            f"SELECT {READ} FROM hd_reads WHERE ticket_id = ? AND user_id = ?", (m.ticket_id, m.user_id)
        )
        return marker_of(row)

    async def list_reads(self, ticket_id: str) -> list[ReadMarker]:
        """Return every user's read marker of the ticket."""
        rows = await self._db.fetch_all(f"SELECT {READ} FROM hd_reads WHERE ticket_id = ? ORDER BY at", (ticket_id,))
        return [marker_of(r) for r in rows]
