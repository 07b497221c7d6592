"""The one HTTP error-to-status map, applied to every HTTP API route (attachments, TURN) by ``add_api_route``.

Routes raise ``DesklineError``s like event handlers do; ``api_errors`` answers ``{"ok": false, "error": ...}`` with
the status of ``HTTP_STATUS``, and any unexpected exception with a logged 500 ``internal``. Pages that answer in
HTML (the password-reset page) take their status from ``http_status`` too.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

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


def api_errors(handler: Handler) -> Handler:
    """Return ``handler`` answering its raised ``DesklineError`` (or crash) with the JSON error and its mapped status.

    A wrapper rather than a middleware: an app with no middleware keeps no extra coroutine frames per request,
    and a WebSocket holds its request's frames for as long as it is open.
    """

    @functools.wraps(handler)
    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DesklineError as err:
            log.info("event=http_error method=%s path=%s code=%s", request.method, request.path, err.code)
            return error_response(err)
        except web.HTTPException:
            raise  # aiohttp's own answers
        except Exception:
            log.exception("event=http_error method=%s path=%s code=internal", request.method, request.path)
            crash = DesklineError(INTERNAL)
            return error_response(crash)

    answered.api_errors = True  # type: ignore[attr-defined]
    return answered


def add_api_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Serve ``handler`` at ``method`` ``path`` (under ``/api/``), its errors answered by ``api_errors``."""
    if not path.startswith(API_PREFIX):
        raise ValueError(f"an API route is under {API_PREFIX}, not {path}")
    if method == hdrs.METH_GET:
        app.router.add_get(path, api_errors(handler))  # HEAD too, as aiohttp does for GET routes
    else:
        app.router.add_route(method, path, api_errors(handler))
