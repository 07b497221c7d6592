"""CORS for the HTTP API (``/api/...``): the same allowed origins as the Socket.IO endpoint.

The API never says ``Access-Control-Allow-Credentials`` (it takes bearer tokens and workspace keys in
headers, not cookies); the Socket.IO endpoint says it only for a listed origin, never with ``*``.
"""

from __future__ import annotations

import logging

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from config import Settings

log = logging.getLogger("deskline.cors")

API_PREFIX = "/api/"
ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = (
    "Authorization, Content-Type, X-Workspace-Id, X-Api-Key, X-Widget-Token, X-Visitor-Secret, X-Identifier, "
    "X-Identifier-Hash"
)
PREFLIGHT_MAX_AGE = "600"


def cors_middleware(allowed: list[str] | str) -> web.middleware:  # type: ignore[valid-type]
    """Return a middleware answering preflights and tagging ``/api/`` responses for allowed origins."""

    def allows(origin: str | None) -> bool:
        return bool(origin) and (allowed == "*" or origin in allowed)

    def tag(response: web.StreamResponse, origin: str) -> None:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.VARY] = hdrs.ORIGIN

    @web.middleware
    async def api_cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        origin = request.headers.get(hdrs.ORIGIN)
        if request.method == hdrs.METH_OPTIONS and request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD):
            response = web.Response(status=204 if allows(origin) else 403)
            if allows(origin):
                tag(response, origin)  # type: ignore[arg-type]
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOWED_METHODS
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOWED_HEADERS
                response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = PREFLIGHT_MAX_AGE
            return response
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if allows(origin):
                tag(exc, origin)  # type: ignore[arg-type]
            raise
        if allows(origin):
            tag(response, origin)  # type: ignore[arg-type]
        return response

    return api_cors


def warn_about_wildcard(settings: Settings) -> None:
    """Log a warning when any origin is allowed outside development."""
    if settings.cors_list() == "*" and settings.env != "development":
        log.warning(
            "event=cors_wildcard env=%s message=DESKLINE_CORS_ORIGINS is * so any web page may call this server "
            "(without credentials); list your frontends' origins",
            settings.env,
        )
