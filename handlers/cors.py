"""CORS for the HTTP API (``/api/...``): the same allowed origins as the Socket.IO endpoint.

The API never says ``Access-Control-Allow-Credentials`` (it takes bearer tokens and workspace keys in
headers, not cookies); the Socket.IO endpoint says it only for a listed origin, never with ``*``.
"""

from __future__ import annotations

import logging

from aiohttp import hdrs, web

from config import Settings

log = logging.getLogger("deskline.cors")

API_PREFIX = "/api/"
ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = (
    "Authorization, Content-Type, X-Workspace-Id, X-Api-Key, X-Widget-Token, X-Visitor-Secret, X-Identifier, "
    "X-Identifier-Hash"
)
PREFLIGHT_MAX_AGE = "600"


def install_cors(app: web.Application, allowed: list[str] | str) -> None:
    """Answer ``/api/`` preflights and tag ``/api/`` responses for allowed origins (call it after the API's routes).

    A route and a response signal rather than a middleware: with no middleware, aiohttp keeps no extra
    coroutine frames per request, and a WebSocket holds its request's frames for as long as it is open.
    """

    def allows(origin: str | None) -> bool:
        return bool(origin) and (allowed == "*" or origin in allowed)

    async def unrouted(request: web.Request) -> web.StreamResponse:
        """Answer a CORS preflight for any ``/api/`` path (204 for an allowed origin, else 403); else 404 or 405."""
        if request.method != hdrs.METH_OPTIONS or not request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD):
            raise await not_routed(request)
        origin = request.headers.get(hdrs.ORIGIN)
        response = web.Response(status=204 if allows(origin) else 403)
        if allows(origin):
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOWED_METHODS
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOWED_HEADERS
            response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = PREFLIGHT_MAX_AGE
        return response

    async def tag(request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Name an allowed origin on every ``/api/`` response (errors included) before it is sent."""
        origin = request.headers.get(hdrs.ORIGIN)
        if request.path.startswith(API_PREFIX) and allows(origin):
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin  # type: ignore[assignment]
            response.headers[hdrs.VARY] = hdrs.ORIGIN

    app.router.add_route(hdrs.METH_ANY, API_PREFIX + "{tail:.*}", unrouted)  # after the API's own routes
    app.on_response_prepare.append(tag)


async def not_routed(request: web.Request) -> web.HTTPException:
    """Return what the router says of a request no route takes: 405 if its path has routes, else 404."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical == API_PREFIX + "{tail}":
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        return web.HTTPMethodNotAllowed(request.method, allowed)
    return web.HTTPNotFound()


def warn_about_wildcard(settings: Settings) -> None:
    """Log a warning when any origin is allowed outside development."""
    if settings.cors_list() == "*" and settings.env != "development":
        log.warning(
            "event=cors_wildcard env=%s message=DESKLINE_CORS_ORIGINS is * so any web page may call this server "
            "(without credentials); list your frontends' origins",
            settings.env,
        )
