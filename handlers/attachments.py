"""Attachments over HTTP: ``POST /api/attachments`` (multipart) and ``GET /api/attachments/<id>``.

Callers authenticate with ``Authorization: Bearer <access JWT>`` or with the workspace key headers
``X-Workspace-Id`` + ``X-Api-Key``, or as a widget visitor (``handlers.widget_auth``). An upload belongs
to its uploader until a ticket or message references it; from then on whoever may see that ticket may download it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import BodyPartReader, hdrs, web

from handlers.context import DEPS_KEY, Deps
from handlers.events import EventRouter
from handlers.http_auth import http_caller
from handlers.upload_limits import UploadQuota, start_expiry
from models.attachments import AttachmentRecord
from models.clock import to_millis
from models.errors import Conflict, DesklineError, ErrorCode, InvalidPayload, NotFound, PayloadTooLarge
from models.roles import Principal, Role
from models.widget import Visitor
from models.workspaces import Workspace
from services.widget import visitor_may_download
from storage.attachments import CHUNK, AttachmentStore, make_attachment_store
from storage.database import new_id
from storage.support import make_support_store
from storage.workspaces import make_workspace_store

log = logging.getLogger("deskline.attachments")

FORM_OVERHEAD = 16 * 1024
HTTP_STATUS = {
    ErrorCode.INVALID_PAYLOAD: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
}


class UnsupportedType(InvalidPayload):
    """The file's content type is not in ``DESKLINE_ATTACHMENT_CONTENT_TYPES`` (HTTP 415)."""


@dataclass(frozen=True)
class Uploader:
    """Who calls: a signed-in user or a workspace key holder."""

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


class AttachmentRules:
    """Which attachments a ticket or message may reference, and who may download one."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.store: AttachmentStore = make_attachment_store(deps.db, deps.settings)

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

    async def may_download(self, who: Uploader, record: AttachmentRecord) -> bool:
        """Return whether the caller may download the attachment."""
        if who.visitor is not None:
            return await visitor_may_download(make_support_store(self.deps.db), who.visitor, record)
        if who.workspace is not None:
            return record.workspace_id == who.workspace.id
        principal = who.principal
        assert principal is not None
        if principal.role == Role.ADMIN or (record.uploader_id == principal.user_id and record.ticket_id is None):
            return True  # once linked, an upload follows its ticket: a staff uploader loses it with membership
        if record.ticket_kind == "helpdesk" and record.ticket_id:
            access = self.deps.services.helpdesk
            try:
                await access.ticket(principal, record.ticket_id)
                return True
            except NotFound:
                return False
        if record.ticket_kind == "support" and record.workspace_id:
            return (
                await make_workspace_store(self.deps.db).get_member(record.workspace_id, principal.user_id) is not None
            )
        return False


async def authenticate(request: web.Request, deps: Deps) -> Uploader:
    """Return the caller from a Bearer JWT, the workspace key headers or the widget headers; raise ``Unauthorized``."""
    caller = await http_caller(request, deps)
    return Uploader(principal=caller.principal, workspace=caller.workspace, visitor=caller.visitor)


def error_response(err: DesklineError) -> web.Response:
    """Return the JSON error body with its HTTP status."""
    status = 415 if isinstance(err, UnsupportedType) else HTTP_STATUS.get(err.code, 500)
    return web.json_response({"ok": False, "error": err.to_error()}, status=status)


def clean_name(filename: str | None) -> str:
    """Return a safe display name: no folders, no control characters, at most 200 characters."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f\"]", "", base).strip()
    return base[:200] or "file"


async def _limited(part: BodyPartReader, limit: int) -> AsyncIterator[bytes]:
    """Yield the part's bytes, raising ``PayloadTooLarge`` as soon as they pass ``limit``."""
    total = 0
    while chunk := await part.read_chunk(CHUNK):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the file is larger than {limit} bytes", {"limit": limit})
        yield chunk


async def upload(request: web.Request) -> web.Response:
    """Store one file sent as the multipart field ``file``; answer ``{id, name, size, content_type}``."""
    deps: Deps = request.app[DEPS_KEY]
    settings = deps.settings
    try:
        who = await authenticate(request, deps)
        await deps.limits.check_upload(who.quota_owner, request.remote or "")
        quota = UploadQuota(deps, make_attachment_store(deps.db, settings))
        await quota.check_room(who.quota_owner)
        limit = settings.attachment_max_bytes
        if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
            raise PayloadTooLarge(f"the file is larger than {limit} bytes", {"limit": limit})
        if not request.content_type.startswith("multipart/"):
            raise InvalidPayload("send the file as multipart/form-data in the field 'file'")
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and not (isinstance(part, BodyPartReader) and part.name == "file" and part.filename):
            part = await reader.next()
        if part is None or not isinstance(part, BodyPartReader):
            raise InvalidPayload("send the file as multipart/form-data in the field 'file'")
        content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream").split(";")[0].strip().lower()
        allowed = [t.strip().lower() for t in settings.attachment_content_types.split(",") if t.strip()]
        if content_type not in allowed:
            raise UnsupportedType(f"files of type {content_type} are not accepted", {"allowed": allowed})
        rules = AttachmentRules(deps)
        attachment_id, name = new_id(), clean_name(part.filename)
        size = await rules.store.write(attachment_id, name, _limited(part, limit))
        if size == 0:
            await rules.store.delete_bytes(attachment_id)
            raise InvalidPayload("the file is empty")
        uploader_id, workspace_id = who.owner
        record = AttachmentRecord(
            id=attachment_id,
            name=name,
            size=size,
            content_type=content_type,
            uploader_id=uploader_id,
            workspace_id=workspace_id,
            created_at=to_millis(deps.clock()),
        )
        await quota.add(who.quota_owner, record)
    except DesklineError as err:
        log.info("event=upload_attachment code=%s", err.code)
        return error_response(err)
    return web.json_response(record.public().model_dump(mode="json"), status=201)


async def download(request: web.Request) -> web.StreamResponse:
    """Stream an attachment to a caller allowed to see it (others get 404)."""
    deps: Deps = request.app[DEPS_KEY]
    attachment_id = request.match_info["attachment_id"]
    try:
        who = await authenticate(request, deps)
        rules = AttachmentRules(deps)
        record = await rules.store.get(attachment_id)
        if not await rules.may_download(who, record):
            raise NotFound("no such attachment", {"attachment_id": attachment_id})
    except DesklineError as err:
        return error_response(err)
    response = web.StreamResponse(
        headers={
            hdrs.CONTENT_TYPE: record.content_type,
            hdrs.CONTENT_DISPOSITION: _disposition(record.name),
            "X-Content-Type-Options": "nosniff",
            hdrs.CACHE_CONTROL: "private, no-store",
        }
    )
    response.content_length = record.size
    await response.prepare(request)
    async for chunk in rules.store.read(record.id):
        await response.write(chunk)
    await response.write_eof()
    return response


def _disposition(name: str) -> str:
    """Return a Content-Disposition that keeps any file name safe."""
    return f"attachment; filename*=UTF-8''{quote(name)}"


def add_routes(app: web.Application) -> None:
    """Add the attachment routes."""
    app.router.add_post("/api/attachments", upload)
    app.router.add_get("/api/attachments/{attachment_id}", download)


async def setup(deps: Deps) -> EventRouter:
    """Create the attachment store's folder, table or indexes and start expiring unreferenced uploads (no socket
    events)."""
    store = make_attachment_store(deps.db, deps.settings)
    await store.init()
    start_expiry(deps, store)
    return EventRouter(deps)
