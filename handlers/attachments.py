"""Attachments over HTTP: ``POST /api/attachments`` (multipart) and ``GET /api/attachments/<id>``.

Callers authenticate with ``Authorization: Bearer <access JWT>`` or with the workspace key headers
``X-Workspace-Id`` + ``X-Api-Key``, or as a widget visitor (``handlers.widget_auth``). An upload belongs
to its uploader until a ticket or message references it; from then on whoever may see that ticket may download it.
The rules, the quota and the expiry are ``services.attachments``; this module reads and writes HTTP.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

from aiohttp import BodyPartReader, hdrs, web

from handlers.context import DEPS_KEY, Deps
from handlers.http import add_api_route
from handlers.http_auth import http_caller
from models.errors import InvalidPayload, PayloadTooLarge
from services.attachments import UPLOAD_CHUNK, Uploader

FORM_OVERHEAD = 16 * 1024
NOT_MULTIPART = "send the file as multipart/form-data in the field 'file'"


async def authenticate(request: web.Request, deps: Deps) -> Uploader:
    """Return the caller from a Bearer JWT, the workspace key headers or the widget headers; raise ``Unauthorized``."""
    caller = await http_caller(request, deps)
    return Uploader(principal=caller.principal, workspace=caller.workspace, visitor=caller.visitor)


def clean_name(filename: str | None) -> str:
    """Return a safe display name: no folders, no control characters, at most 200 characters."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f\"]", "", base).strip()
    return base[:200] or "file"


async def _limited(part: BodyPartReader, limit: int) -> AsyncIterator[bytes]:
    """Yield the part's bytes, raising ``PayloadTooLarge`` as soon as they pass ``limit``."""
    total = 0
    while chunk := await part.read_chunk(UPLOAD_CHUNK):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the file is larger than {limit} bytes", {"limit": limit})
        yield chunk


async def _file_part(request: web.Request) -> BodyPartReader:
    """Return the multipart field ``file`` (with a file name), or raise ``InvalidPayload``."""
    if not request.content_type.startswith("multipart/"):
        raise InvalidPayload(NOT_MULTIPART)
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and not (isinstance(part, BodyPartReader) and part.name == "file" and part.filename):
        part = await reader.next()
    if part is None or not isinstance(part, BodyPartReader):
        raise InvalidPayload(NOT_MULTIPART)
    return part


async def upload(request: web.Request) -> web.Response:
    """Store one file sent as the multipart field ``file``; answer ``{id, name, size, content_type}``."""
    deps: Deps = request.app[DEPS_KEY]
    attachments = deps.services.attachments
    who = await authenticate(request, deps)
    await deps.limits.check_upload(who.quota_owner, request.remote or "")
    await attachments.check_room(who.quota_owner)
    limit = deps.settings.attachment_max_bytes
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes", {"limit": limit})
    part = await _file_part(request)
    content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream").split(";")[0].strip().lower()
    attachments.check_type(content_type)
    record = await attachments.save(who, clean_name(part.filename), content_type, _limited(part, limit))
    return web.json_response(record.public().model_dump(mode="json"), status=201)


async def download(request: web.Request) -> web.StreamResponse:
    """Stream an attachment to a caller allowed to see it (others get 404)."""
    deps: Deps = request.app[DEPS_KEY]
    attachments = deps.services.attachments
    who = await authenticate(request, deps)
    record = await attachments.downloadable(who, request.match_info["attachment_id"])
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
    async for chunk in attachments.content(record):
        await response.write(chunk)
    await response.write_eof()
    return response


def _disposition(name: str) -> str:
    """Return a Content-Disposition that keeps any file name safe."""
    return f"attachment; filename*=UTF-8''{quote(name)}"


def add_routes(app: web.Application) -> None:
    """Add the attachment routes (attachments have no socket events)."""
    add_api_route(app, hdrs.METH_POST, "/api/attachments", upload)
    add_api_route(app, hdrs.METH_GET, "/api/attachments/{attachment_id}", download)
