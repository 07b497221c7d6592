"""Which uploads a ticket or message may link: the caller's own uploads that are not part of a ticket yet."""

from __future__ import annotations

from models.errors import Conflict, NotFound
from storage.attachments import AttachmentStore


class OwnedUploads:
    """Checks attachment ids against the attachment store before a ticket or message links them.

    (Same rule as ``AttachmentRules.check_owned``; the attachments converter may fold the two together.)
    """

    def __init__(self, store: AttachmentStore) -> None:
        self.store = store

    async def check(self, ids: list[str], uploader_id: str | None, workspace_id: str | None) -> None:
        """Raise unless every id is an unreferenced upload of this uploader."""
        for attachment_id in ids:
            try:
                record = await self.store.get(attachment_id)
            except NotFound:
                record = None
            if record is None or (record.uploader_id, record.workspace_id) != (uploader_id, workspace_id):
                raise NotFound("no such attachment of yours", {"attachment_id": attachment_id})
            if record.ticket_id is not None:
                raise Conflict("this attachment is already part of a ticket", {"attachment_id": attachment_id})
