"""Bare python-socketio reference for bench/run.py: Deskline's speed defaults, the Node reference's events.

    python bench/py_ref.py --port 9001
    python bench/py_ref.py --port 9001 --layer   # the same events on Deskline's socket layer

uvloop, orjson as the JSON module, permessage-deflate refused; ``echo`` (acked), a Dowell-style ``join``
(enter the room, tell the others, greet) and ``message_event`` (broadcast to the room, acked), no storage.
With ``--layer`` the server is Deskline's socket layer (``DesklineServer`` on ``DesklineEngine``, its broadcast
manager, packet class and orjson codec, the serving GC thresholds) without Deskline's domain: what the stack
beneath Deskline's handlers costs, apart from what they do (sessions, validation, storage, metrics).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import Any

import orjson
import socketio
import uvloop
from aiohttp import hdrs, web

ROOT = Path(__file__).resolve().parent.parent

WELCOME = {"data": "Welcome to Dowell Chat", "count": 0}
GREETING = "Hey how may i help you"


class OrjsonCodec:
    """orjson behind the ``json`` interface python-socketio expects."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        """Serialise ``obj`` to a JSON string."""
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> Any:
        """Parse a JSON string."""
        return orjson.loads(data)


@web.middleware
async def no_compression(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Drop the client's permessage-deflate offer, as Deskline does by default."""
    if hdrs.SEC_WEBSOCKET_EXTENSIONS in request.headers:
        headers = request.headers.copy()
        del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        request = request.clone(headers=headers)
    return await handler(request)


def create_app(layer: bool = False) -> web.Application:
    """Return the reference app: one Socket.IO server with the bench events (on Deskline's layer if ``layer``)."""
    if layer:  # imported only here: the bare reference loads nothing of Deskline's
        from handlers import codec
        from handlers.metrics import ObservedManager
        from handlers.sio_server import DesklineServer

        app = web.Application()  # Deskline's layer refuses permessage-deflate itself, with no middleware
        sio: socketio.AsyncServer = DesklineServer(
            async_mode="aiohttp", client_manager=ObservedManager(), json=codec, cors_allowed_origins="*"
        )
    else:
        app = web.Application(middlewares=[no_compression])
        sio = socketio.AsyncServer(async_mode="aiohttp", json=OrjsonCodec, cors_allowed_origins="*")
    sio.attach(app)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/health", health)

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.emit("my_response", WELCOME, to=sid)

    @sio.on("echo")
    async def echo(sid: str, data: Any = None) -> dict[str, Any]:
        return {"ok": True, "data": data}

    @sio.on("join")
    async def join(sid: str, p: dict[str, Any]) -> dict[str, Any]:
        room = f"chat:{p['room']}"
        await sio.enter_room(sid, room)
        await sio.emit("my_response", {"data": f"{sid} Joined the Room"}, to=room, skip_sid=sid)
        await sio.emit("my_response", {"data": GREETING}, to=sid)
        return {"ok": True, "data": {"room": p["room"], "history": 0}}

    @sio.on("message_event")
    async def message_event(sid: str, p: dict[str, Any]) -> dict[str, Any]:
        await sio.emit("my_response", {"data": p["message_data"], "sid": sid}, to=f"chat:{p['room_id']}")
        return {"ok": True, "data": {"room": p["room_id"], "message_data": p["message_data"]}}

    return app


def main() -> None:
    """Run the reference server on 127.0.0.1."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--layer", action="store_true", help="serve on Deskline's socket layer")
    args = parser.parse_args()
    if args.layer:
        sys.path.insert(0, str(ROOT))  # run as a script: Deskline's modules are beside bench/
        from server import SERVING_GC_THRESHOLDS

        gc.set_threshold(*SERVING_GC_THRESHOLDS)
    web.run_app(
        create_app(args.layer),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
