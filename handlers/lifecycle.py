"""Stopping without losing anyone: readiness, in-flight handlers, and sockets closed so clients reconnect at once.

On SIGTERM an instance answers ``/ready`` with 503, stops listening, lets in-flight handlers answer their acks,
then closes every socket. A WebSocket is closed *itself* (not only sent an Engine.IO CLOSE packet, which
socket.io-client acts on only over polling): the client sees ``transport close`` at once and reconnects, to
another instance behind the proxy, where its rooms are restored from its auth (signed-in rooms, tracked offices).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from handlers.ready import READY_KEY
from handlers.sio_server import DesklineServer

log = logging.getLogger("deskline.lifecycle")

HANDLER_GRACE_SECONDS = 3.0  # in-flight handlers get this long to answer, before and after the sockets close
CLOSE_GRACE_SECONDS = 2.0  # closing a socket whose client went away must not hold the stop


def install(app: web.Application, sio: DesklineServer) -> None:
    """Add the graceful socket stop to ``app`` (``/ready`` is ``handlers.ready``'s)."""

    async def on_shutdown(app: web.Application) -> None:
        await stop_sockets(app, sio)

    app.on_shutdown.append(on_shutdown)


def not_ready(app: web.Application) -> None:
    """Say this instance is stopping: ``/ready`` answers 503 from now on."""
    app[READY_KEY].stopping = True


async def stop_sockets(app: web.Application, sio: DesklineServer) -> None:
    """Let in-flight handlers finish, close every socket so its client reconnects now, stop Socket.IO's tasks."""
    not_ready(app)
    sio.stopping = True  # from now on events are answered "restarting", not run: the running ones end before the close
    for _ in range(3):  # messages already read have their dispatch task scheduled: let them start (and count)
        await asyncio.sleep(0)
    if not await sio.until_idle(HANDLER_GRACE_SECONDS):
        log.warning("event=stopping code=internal reason=handlers_still_running count=%s", sio.in_flight)
    sockets = list(sio.eio.sockets.values())
    closing = [asyncio.create_task(close_socket(sio, socket)) for socket in sockets]
    if closing:
        _, stuck = await asyncio.wait(closing, timeout=CLOSE_GRACE_SECONDS)
        for task in stuck:
            task.cancel()
    await sio.until_idle(HANDLER_GRACE_SECONDS)  # disconnect handlers' work, if any, still finishes
    log.info("event=sockets_closed count=%s", len(sockets))
    sio.eio.sockets = {}
    if sio.eio.service_task_handle is not None:
        await sio.shutdown()


async def close_socket(sio: DesklineServer, socket: object) -> None:
    """Close one Engine.IO socket; over WebSocket, close the WebSocket too, after what is queued is sent."""
    await socket.close(wait=False, reason=sio.eio.reason.SERVER_DISCONNECT)  # type: ignore[attr-defined]
    if socket.upgraded:  # type: ignore[attr-defined]
        await socket.close_websocket(CLOSE_GRACE_SECONDS)  # type: ignore[attr-defined]
