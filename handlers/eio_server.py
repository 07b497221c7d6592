"""``DesklineEngine``: python-engineio's server with ``DesklineSocket`` sockets (``handlers.sio_engine``)."""

from __future__ import annotations

from typing import Any

import engineio
from engineio import packet as eio_packet

from handlers.sio_engine import DesklineSocket


class DesklineEngine(engineio.AsyncServer):
    """Engine.IO server whose sockets are ``DesklineSocket``; ``send_backlog`` bounds each socket's queue."""

    send_backlog = 10_000

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
                "pingInterval": int(self.ping_interval + self.ping_interval_grace_period) * 1000,
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
