"""Attachments: files uploaded over HTTP and referenced by id from tickets and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from models.common import Document
from models.errors import InvalidPayload

TicketKind = Literal["helpdesk", "support", "profile"]  # "profile": a picture in use, ticket_id its user


class Attachment(Document):
    """What the uploader is told about a stored file."""

    id: str
    name: str
    size: int
    content_type: str


class AttachmentRecord(Attachment):
    """A stored attachment: who uploaded it and which ticket it belongs to once referenced."""

    uploader_id: str | None = None
    workspace_id: str | None = None
    ticket_kind: TicketKind | None = None
    ticket_id: str | None = None
    created_at: datetime

    def public(self) -> Attachment:
        """Return the client-facing part."""
        return Attachment(id=self.id, name=self.name, size=self.size, content_type=self.content_type)


class UnsupportedType(InvalidPayload):
    """The file's content type is not in ``DESKLINE_ATTACHMENT_CONTENT_TYPES`` (HTTP 415)."""
