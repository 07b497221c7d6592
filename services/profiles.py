"""Profile use cases: read a profile one may see, edit one's own (name, city, region, an uploaded picture)."""

from __future__ import annotations

from contextlib import aclosing

from models.attachments import AttachmentRecord
from models.clock import Clock
from models.errors import Conflict, InvalidPayload, NotFound
from models.profiles import PICTURE_TYPES, PROFILE_UPDATED, Profile, ProfileChanges, ProfileRecord, UpdateProfilePayload
from models.roles import Principal, Role
from models.rooms import user_room, workspace_room
from services.accounts import AccountService
from services.emitter import Emitter
from storage.attachments import AttachmentStore
from storage.profiles import NOT_YOUR_UPLOAD, ProfileStore
from storage.workspaces import WorkspaceStore

NO_PROFILE = "no such user"


def picture_type(head: bytes) -> str | None:
    """Return the image type the first bytes of a file announce (PNG, JPEG, GIF or WebP), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def picture_url(attachment_id: str | None) -> str | None:
    """Return where a picture is downloaded (with the caller's usual attachment credentials)."""
    return f"/api/attachments/{attachment_id}" if attachment_id else None


class ProfileService:
    """Profiles over a ``ProfileStore``. Who sees a user's profile (and picture): the user, admins, and the
    staff (agents, managers) sharing a workspace with them; widget visitors see the workspace's staff."""

    def __init__(
        self,
        store: ProfileStore,
        accounts: AccountService,
        workspaces: WorkspaceStore,
        files: AttachmentStore,
        emitter: Emitter,
        clock: Clock,
        max_picture_bytes: int,
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.workspaces = workspaces
        self.files = files
        self.emitter = emitter
        self.clock = clock
        self.max_picture_bytes = max_picture_bytes

    async def may_see(self, viewer: Principal, user_id: str) -> bool:
        """Return whether ``viewer`` may see the profile of ``user_id``."""
        if viewer.user_id == user_id or viewer.role == Role.ADMIN:
            return True
        if viewer.role == Role.CLIENT:
            return False
        mine = {m.workspace_id for m in await self.workspaces.memberships(viewer.user_id)}
        return any(m.workspace_id in mine for m in await self.workspaces.memberships(user_id))

    async def visitor_may_see(self, workspace_id: str, user_id: str) -> bool:
        """Return whether a widget visitor of ``workspace_id`` may see the profile of ``user_id`` (its staff)."""
        return await self.workspaces.get_member(workspace_id, user_id) is not None

    async def profile(self, viewer: Principal, user_id: str | None = None) -> Profile:
        """Return the caller's profile, or that of a user they may see; ``NotFound`` otherwise (nothing leaked)."""
        target = user_id or viewer.user_id
        if not await self.may_see(viewer, target):
            raise NotFound(NO_PROFILE, {"user_id": target})
        return await self.view(target)

    async def view(self, user_id: str) -> Profile:
        """Return the profile of ``user_id`` (an account without a stored profile has an empty one)."""
        try:
            user = await self.accounts.store.get_user(user_id)
        except NotFound:
            raise NotFound(NO_PROFILE, {"user_id": user_id}) from None
        record = await self.store.get(user_id) or ProfileRecord(user_id=user_id)
        return Profile(
            user_id=user.id,
            name=user.name,
            role=user.role.value,
            city=record.city,
            region=record.region,
            picture_attachment_id=record.picture_attachment_id,
            picture_url=picture_url(record.picture_attachment_id),
            updated_at=record.updated_at,
        )

    async def card(self, user_id: str) -> tuple[str, str | None] | None:
        """Return ``(name, picture_url)`` of an account, or None when ``user_id`` is no account."""
        try:
            profile = await self.view(user_id)
        except NotFound:
            return None
        return profile.name, profile.picture_url

    async def update(self, who: Principal, p: UpdateProfilePayload) -> Profile:
        """Change the caller's own profile; push ``profile_updated`` to their sockets and subscribed colleagues."""
        if p.picture_attachment_id:
            await self.check_picture(who.user_id, p.picture_attachment_id)
        changes = ProfileChanges(
            name=p.name,
            city=p.city,
            region=p.region,
            picture_attachment_id=p.picture_attachment_id,
            remove_picture=p.remove_picture,
        )
        await self.store.save(who.user_id, changes, self.clock())
        profile = await self.view(who.user_id)
        rooms = [user_room(who.user_id)]  # and the colleagues subscribed to a workspace the user is staff of
        rooms += [workspace_room(m.workspace_id) for m in await self.workspaces.memberships(who.user_id)]
        await self.emitter.push(PROFILE_UPDATED, profile, to=rooms)
        return profile

    async def check_picture(self, user_id: str, attachment_id: str) -> AttachmentRecord:
        """Return the upload if it may become the user's picture: theirs, unused, a small PNG/JPEG/GIF/WebP."""
        try:
            record = await self.files.get(attachment_id)
        except NotFound:
            record = None
        if record is None or (record.uploader_id, record.workspace_id) != (user_id, None):
            raise NotFound(NOT_YOUR_UPLOAD, {"attachment_id": attachment_id})
        if record.ticket_id is not None and not (record.ticket_kind == "profile" and record.ticket_id == user_id):
            raise Conflict("this upload is already part of a ticket", {"attachment_id": attachment_id})
        if record.size > self.max_picture_bytes:
            raise _bad_picture(f"the picture is larger than {self.max_picture_bytes} bytes", "too_large")
        if record.content_type not in PICTURE_TYPES or await self._sniff(attachment_id) != record.content_type:
            raise _bad_picture("the picture must be a PNG, JPEG, GIF or WebP image", "not_an_image")
        return record

    async def _sniff(self, attachment_id: str) -> str | None:
        """Return the image type the stored bytes start with."""
        head = b""
        async with aclosing(self.files.read(attachment_id)) as chunks:
            async for chunk in chunks:
                head += chunk
                if len(head) >= 12:
                    break
        return picture_type(head)


def _bad_picture(message: str, kind: str) -> InvalidPayload:
    """Return the ``invalid_payload`` error of an unacceptable picture."""
    return InvalidPayload(message, [{"field": "picture_attachment_id", "message": message, "type": kind}])
