"""Attachment use cases: store an upload under its byte quota, which uploads a ticket may reference, who may
download one, and the expiry of uploads nothing references."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from config import Settings
from models.attachments import AttachmentRecord, UnsupportedType
from models.clock import Clock
from models.errors import Conflict, InvalidPayload, NotFound, RateLimited
from models.roles import Principal, Role
from models.tickets import Ticket
from models.widget import Visitor
from models.workspaces import Workspace
from storage.attachments import CHUNK, AttachmentStore
from storage.database import new_id
from storage.tickets import TicketStore
from storage.workspaces import WorkspaceStore

log = logging.getLogger("deskline.attachments")

UPLOAD_CHUNK = CHUNK  # bytes read from an upload at a time (the store's chunk size)

EXPIRE_BATCH = 200


class TicketReader(Protocol):
    """Which helpdesk tickets a principal may see (``HelpdeskAccess`` today, ``services.helpdesk`` next)."""

    async def ticket(self, who: Principal, ticket_id: str) -> Ticket:
        """Return the ticket if the caller may see it; ``NotFound`` otherwise."""
        ...


class ProfileViewer(Protocol):
    """Whose profile (and picture) a caller may see (``services.profiles.ProfileService``)."""

    async def may_see(self, viewer: Principal, user_id: str) -> bool:
        """Return whether ``viewer`` may see the profile of ``user_id``."""
        ...

    async def visitor_may_see(self, workspace_id: str, user_id: str) -> bool:
        """Return whether a widget visitor of ``workspace_id`` may see the profile of ``user_id``."""
        ...


@dataclass(frozen=True)
class Uploader:
    """Who calls: a signed-in user, a workspace key holder or a widget visitor (exactly one)."""

    principal: Principal | None = None
    workspace: Workspace | None = None
    visitor: Visitor | None = None

    @property
    def owner(self) -> tuple[str | None, str | None]:
        """The (uploader_id, workspace_id) an upload by this caller is stored under."""
        if self.visitor is not None:
            return self.visitor.id, self.visitor.workspace_id
        return (
            (self.principal.user_id, None) if self.principal else (None, self.workspace.id if self.workspace else None)
        )

    @property
    def quota_owner(self) -> str:
        """The key this caller's uploads are counted under: ``user:<id>`` or ``workspace:<id>``."""
        uploader_id, workspace_id = self.owner
        return f"user:{uploader_id}" if uploader_id else f"workspace:{workspace_id}"


class AttachmentService:
    """Uploads over an ``AttachmentStore``: the per-uploader quota, the reference rules and the download rules.

    The quota is ``attachment_quota_bytes`` per fixed window of ``attachment_quota_window_hours``; an uploader is
    ``user:<id>`` or ``workspace:<id>``.
    """

    def __init__(
        self,
        store: AttachmentStore,
        workspaces: WorkspaceStore,
        tickets: TicketStore,
        settings: Settings,
        clock: Clock,
        helpdesk: TicketReader | None = None,
    ) -> None:
        self.store = store
        self.workspaces = workspaces
        self.tickets = tickets
        self.settings = settings
        self.clock = clock
        self.helpdesk = helpdesk  # connected in wiring.py (it is built over Deps until the ticket slice lands)
        self.profiles: ProfileViewer | None = None  # connected in wiring.py: who sees a profile picture
        self.quota = settings.attachment_quota_bytes
        self.window_seconds = settings.attachment_quota_window_hours * 3600

    # Uploads

    def allowed_types(self) -> list[str]:
        """Return the accepted content types."""
        return [t.strip().lower() for t in self.settings.attachment_content_types.split(",") if t.strip()]

    def check_type(self, content_type: str) -> None:
        """Raise ``UnsupportedType`` unless files of ``content_type`` are accepted."""
        allowed = self.allowed_types()
        if content_type not in allowed:
            raise UnsupportedType(f"files of type {content_type} are not accepted", {"allowed": allowed})

    async def check_room(self, owner: str) -> None:
        """Refuse before reading the file when the uploader's window is already full (a shortcut, not the check)."""
        window, left = self._window()
        if self.quota and await self.store.usage(owner, window) >= self.quota:
            raise self._over(left)

    async def save(self, who: Uploader, name: str, content_type: str, chunks: AsyncIterator[bytes]) -> AttachmentRecord:
        """Write the file and store its record, counted in the uploader's window atomically (over it: nothing kept)."""
        attachment_id = new_id()
        size = await self.store.write(attachment_id, name, chunks)
        if size == 0:
            await self.store.delete_bytes(attachment_id)
            raise InvalidPayload("the file is empty")
        uploader_id, workspace_id = who.owner
        record = AttachmentRecord(
            id=attachment_id,
            name=name,
            size=size,
            content_type=content_type,
            uploader_id=uploader_id,
            workspace_id=workspace_id,
            created_at=self.clock(),
        )
        await self._add(who.quota_owner, record)
        return record

    async def _add(self, owner: str, record: AttachmentRecord) -> None:
        """Store the record within the owner's quota; over it, drop the bytes and raise ``RateLimited``."""
        if not self.quota:
            await self.store.add(record)
            return
        window, left = self._window()
        if not await self.store.add_within_quota(record, owner, window, self.quota):
            await self.store.delete_bytes(record.id)
            raise self._over(left)

    def _window(self) -> tuple[int, float]:
        """Return the current window's number and the seconds until the next one."""
        now = self.clock().timestamp()
        window = math.floor(now / self.window_seconds)
        return window, (window + 1) * self.window_seconds - now

    def _over(self, left: float) -> RateLimited:
        """Return the error of a full window."""
        retry = math.ceil(left)
        return RateLimited(
            f"upload quota of {self.quota} bytes used up; try again in {retry} s",
            {"retry_after_seconds": retry, "quota_bytes": self.quota},
        )

    # References and downloads

    async def check_owned(self, ids: list[str], uploader_id: str | None, workspace_id: str | None) -> None:
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

    def content(self, record: AttachmentRecord) -> AsyncIterator[bytes]:
        """Return the stored bytes of ``record`` (one checked by ``downloadable``), chunk by chunk."""
        return self.store.read(record.id)

    async def downloadable(self, who: Uploader, attachment_id: str) -> AttachmentRecord:
        """Return the attachment if the caller may download it; ``NotFound`` otherwise (existence is not leaked)."""
        record = await self.store.get(attachment_id)
        if not await self.may_download(who, record):
            raise NotFound("no such attachment", {"attachment_id": attachment_id})
        return record

    async def may_download(self, who: Uploader, record: AttachmentRecord) -> bool:
        """Return whether the caller may download the attachment."""
        if who.visitor is not None:
            return await self.visitor_may_download(who.visitor, record)
        if who.workspace is not None:
            return record.workspace_id == who.workspace.id
        principal = who.principal
        assert principal is not None
        if record.ticket_kind == "profile" and record.ticket_id:  # a picture in use: whoever sees its profile
            return self.profiles is not None and await self.profiles.may_see(principal, record.ticket_id)
        if principal.role == Role.ADMIN or (record.uploader_id == principal.user_id and record.ticket_id is None):
            return True  # once linked, an upload follows its ticket: a staff uploader loses it with membership
        if record.ticket_id is None:
            return False
        assert self.helpdesk is not None, "wiring.py connects the attachments' helpdesk"
        try:  # one ticket store for every door: who may see the ticket may download what is in it
            await self.helpdesk.ticket(principal, record.ticket_id)
            return True
        except NotFound:
            return False

    async def visitor_may_download(self, visitor: Visitor, record: AttachmentRecord) -> bool:
        """Return whether a visitor may download an attachment: their own upload, one in their own ticket, or the
        profile picture of a staff member of the workspace."""
        if record.ticket_kind == "profile" and record.ticket_id:
            return self.profiles is not None and await self.profiles.visitor_may_see(
                visitor.workspace_id, record.ticket_id
            )
        if record.workspace_id != visitor.workspace_id:
            return False
        if record.ticket_id is None:
            return record.uploader_id == visitor.id
        if record.ticket_kind != "support":
            return False
        ticket = await self.tickets.get_line_ticket(visitor.workspace_id, record.ticket_id)
        return ticket is not None and ticket.client_id == visitor.id

    # Expiry (a periodic job connected in wiring.py)

    async def expire_unlinked(self) -> int:
        """Delete uploads older than ``UNLINKED_UPLOAD_TTL_HOURS`` that nothing references; return how many.

        Safe with several instances: each deletion is conditional, so one instance deletes each upload.
        """
        cutoff = self.clock() - timedelta(hours=self.settings.unlinked_upload_ttl_hours)
        deleted = 0
        for attachment_id in await self.store.unlinked_before(cutoff, EXPIRE_BATCH):
            if await self.store.delete_if_unlinked(attachment_id):
                deleted += 1
        await self.store.drop_usage_before(math.floor(self.clock().timestamp() / self.window_seconds))
        if deleted:
            log.info("event=expire_uploads deleted=%s", deleted)
        return deleted

    async def expire(self) -> None:
        """The periodic job: run ``expire_unlinked`` once."""
        await self.expire_unlinked()
