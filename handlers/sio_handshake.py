"""What a connected socket keeps of its HTTP handshake: a few environ keys, not the whole request.

python-engineio turns the handshake request into a WSGI environ (every header, the aiohttp request, its
input stream) and python-socketio keeps that dict for the socket's whole life, for the ``connect`` handler
that runs when the Socket.IO CONNECT packet arrives. Deskline's ``connect`` reads only the client's address
(the TCP peer and, from a trusted proxy, ``X-Forwarded-For``) and the ``Origin`` header (the widget's
allowed origins), so the kept environ holds just those (``socket_environ``). ``LeanWebSocket`` opens the
WebSocket without permessage-deflate unless it is allowed, and empties the handshake's own environ once the
WebSocket is open (the frames serving the connection hold it until the connection ends, and nothing reads it).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from engineio.async_drivers import aiohttp as aiohttp_driver

REMOTE_ADDR = "REMOTE_ADDR"  # the TCP peer's address (the driver itself always writes 127.0.0.1)
FORWARDED_FOR = "HTTP_X_FORWARDED_FOR"  # every X-Forwarded-For header of the handshake, comma-joined
ORIGIN = "HTTP_ORIGIN"
KEPT_HEADERS = (FORWARDED_FOR, ORIGIN)
AIOHTTP_REQUEST = "aiohttp.request"


def socket_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """Return the part of a handshake's environ that a socket keeps: the peer's address and the headers read later."""
    request = environ.get(AIOHTTP_REQUEST)
    peer = request.remote if isinstance(request, web.BaseRequest) else environ.get(REMOTE_ADDR)
    kept: dict[str, Any] = {REMOTE_ADDR: peer or ""}
    for key in KEPT_HEADERS:
        if key in environ:
            kept[key] = environ[key]
    return kept


class LeanWebSocket(aiohttp_driver.WebSocket):
    """The aiohttp driver's WebSocket, opened with compression only if allowed and keeping no environ."""

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        """Open the WebSocket of the handshake in ``environ`` and serve it until it closes."""
        request = environ[AIOHTTP_REQUEST]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size,
            compress=getattr(self.server, "websocket_compression", False),
        )
        await self._sock.prepare(request)
        del request
        environ.clear()  # the connection's frames keep this dict alive; the socket's own copy is socket_environ's
        await self.handler(self)
        return self._sock
