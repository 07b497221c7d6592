"""``DesklineEngine``: python-engineio's server with ``DesklineSocket`` sockets (``handlers.sio_engine``).

It also answers the HTTP requests python-engineio answers differently from Node's engine.io, as socket.io's
conformance suite expects (``tests/conformance``): a handshake without ``transport`` and a method other than
GET, POST or OPTIONS get 400 (not a session on polling and 405), a POST is answered ``ok`` (not ``OK``), a
second WebSocket for a session already on (or moving to) WebSocket is opened and closed at once (not refused
with 400, nor let take the session over mid-upgrade), and ``pingInterval`` keeps its milliseconds (upstream
rounds it down to whole seconds first).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qs

import engineio
from aiohttp import web
from engineio import packet as eio_packet

from handlers.eio_polling import asks_upgrade
from handlers.sio_engine import DesklineSocket
from handlers.ws_frames import FrameBatch


class DesklineEngine(engineio.AsyncServer):
    """Engine.IO server whose sockets are ``DesklineSocket``; ``send_backlog`` bounds each socket's queue."""

    send_backlog = 10_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames = FrameBatch()  # direct WebSocket writes, batched until the end of the loop's pass

    def attach(self, app: web.Application, engineio_path: str = "engine.io") -> None:
        """Attach to ``app`` (as ``engineio.AsyncServer.attach``); other methods than GET, POST, OPTIONS get 400."""
        super().attach(app, engineio_path)
        app.router.add_route("*", f"/{engineio_path.strip('/')}/", self._bad_method)

    async def _bad_method(self, request: web.Request) -> Any:
        """Answer a request whose method Engine.IO has no use for: 400, as Node's engine.io does."""
        return await self._refuse(request, "Bad handshake method")

    async def _refuse(self, request: web.BaseRequest, message: str) -> Any:
        """Answer ``request`` 400 with ``message``, with the CORS headers every Engine.IO answer has."""
        return await self._make_response(self._bad_request(message), self._async["translate_request"](request))

    async def handle_request(self, request: web.BaseRequest) -> Any:  # type: ignore[override]
        """Serve an Engine.IO request (``engineio.AsyncServer.handle_request``); 400 when it names no transport.

        Only the aiohttp driver calls it (one argument, the request): no ``*args``/``**kwargs`` to keep.
        """
        answer = self._answer_as_node(request)
        if answer is not None:
            return await answer
        return await super().handle_request(request)

    def _answer_as_node(self, request: web.BaseRequest) -> Awaitable[Any] | None:
        """Node's answer where upstream's differs (no transport named, a second WebSocket), else None.

        Kept out of ``handle_request``, whose frame lives as long as its WebSocket is open: what this reads (the
        parsed query above all) would otherwise stay referenced from every open connection, ~1.3 KiB each.
        """
        query = parse_qs(request.query_string)
        if "transport" not in query:
            return self._refuse(request, "Invalid transport")
        sock = self.sockets.get(query["sid"][0]) if "sid" in query else None
        if sock is not None and (sock.upgraded or sock.upgrading) and request.method == "GET":
            environ = self._async["translate_request"](request)
            if asks_upgrade(environ, sock.upgrade_protocols):
                return self._async["websocket"](_close_at_once, self)(environ)  # type: ignore[no-any-return]
        return None

    def _ok(self, packets: Any = None, headers: Any = None, jsonp_index: Any = None) -> dict[str, Any]:
        """A 200 response (replaces ``engineio.base_server.BaseServer._ok``); ``ok`` when it carries no packets."""
        response: dict[str, Any] = super()._ok(packets, headers, jsonp_index)
        if packets is None:
            response["response"] = b"ok"
        return response

    async def _handle_connect(self, environ: dict[str, Any], transport: str, jsonp_index: Any = None) -> Any:
        """Open a session (replaces ``engineio.AsyncServer._handle_connect``) on a ``DesklineSocket``."""
        if self.start_service_task:
            self.start_service_task = False
            self.service_task_handle = self.start_background_task(self._service_task)
        sid = self.generate_id()
        s = DesklineSocket(self, sid)
        self.sockets[sid] = s
        pkt = eio_packet.Packet(
            eio_packet.OPEN,
            {
                "sid": sid,
                "upgrades": self._upgrades(sid, transport),
                "pingTimeout": int(self.ping_timeout * 1000),
                "pingInterval": int((self.ping_interval + self.ping_interval_grace_period) * 1000),
                "maxPayload": self.max_http_buffer_size,
            },
        )
        await s.send(pkt)
        ret = await self._trigger_event("connect", sid, environ, run_async=False)
        if ret is not None and ret is not True:
            del self.sockets[sid]
            self.logger.warning("Application rejected connection")
            return self._unauthorized(ret or None)
        s.schedule_ping()
        if transport == "websocket":
            ret = await s.handle_get_request(environ)
            if s.closed and sid in self.sockets:
                del self.sockets[sid]
            return ret
        s.connected = True
        headers = None
        if self.cookie:
            cookie = self.cookie
            if not isinstance(cookie, dict):
                cookie = {"name": self.cookie, "path": "/", "SameSite": "Lax"}
            headers = [("Set-Cookie", self._generate_sid_cookie(sid, cookie))]
        try:
            return self._ok(await s.poll(), headers=headers, jsonp_index=jsonp_index)
        except engineio.exceptions.QueueEmpty:
            return self._bad_request()


async def _close_at_once(ws: Any) -> None:
    """Serve a WebSocket the session has no use for by closing it."""
    await ws.close()
