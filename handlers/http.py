"""The one HTTP error-to-status map, used by every HTTP API route (attachments, TURN)."""

from __future__ import annotations

from aiohttp import web

from models.attachments import UnsupportedType
from models.errors import DesklineError, ErrorCode

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PAYLOAD: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
}


def http_status(err: DesklineError) -> int:
    """Return the HTTP status of ``err`` (415 for an unsupported file type; 500 for anything unmapped)."""
    if isinstance(err, UnsupportedType):
        return 415
    return HTTP_STATUS.get(err.code, 500)


def error_response(err: DesklineError) -> web.Response:
    """Return the JSON error body ``{"ok": false, "error": ...}`` with its HTTP status."""
    return web.json_response({"ok": False, "error": err.to_error()}, status=http_status(err))
