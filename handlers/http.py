"""The one HTTP error-to-status map, applied once to every HTTP API route by ``api_errors`` (attachments, TURN).

Routes raise ``DesklineError``s like event handlers do; the middleware answers ``{"ok": false, "error": ...}`` with
the status of ``HTTP_STATUS``, and any unexpected exception with a logged 500 ``internal``. Pages that answer in
HTML (the password-reset page) take their status from ``http_status`` too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from handlers.cors import API_PREFIX
from models.attachments import UnsupportedType
from models.errors import DesklineError, ErrorCode

log = logging.getLogger("deskline.http")

INTERNAL = "internal server error"

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PAYLOAD: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_status(err: DesklineError) -> int:
    """Return the HTTP status of ``err`` (415 for an unsupported file type; 500 for anything unmapped)."""
    if isinstance(err, UnsupportedType):
        return 415
    return HTTP_STATUS.get(err.code, 500)


def error_response(err: DesklineError) -> web.Response:
    """Return the JSON error body ``{"ok": false, "error": ...}`` with its HTTP status."""
    return web.json_response({"ok": False, "error": err.to_error()}, status=http_status(err))


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a ``/api/`` route's raised ``DesklineError`` (or crash) with the JSON error and its mapped status."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except DesklineError as err:
        log.info("event=http_error method=%s path=%s code=%s", request.method, request.path, err.code)
        return error_response(err)
    except web.HTTPException:
        raise  # aiohttp's own answers (404 no such route, 405...)
    except Exception:
        log.exception("event=http_error method=%s path=%s code=internal", request.method, request.path)
        crash = DesklineError(INTERNAL)
        return error_response(crash)
