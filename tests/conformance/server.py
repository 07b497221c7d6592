"""The server socket.io's conformance suites test: Engine.IO at ``/engine.io/``, Socket.IO at ``/socket.io/``.

    python -m tests.conformance.server --port 3000            # on Deskline's socket layer
    python -m tests.conformance.server --port 3000 --stock    # on stock python-engineio / python-socketio

Configured as the suites' READMEs ask of Node's reference servers: ping interval 300 ms, ping timeout 200 ms,
1 MB max payload, any origin. Engine.IO echoes every message; Socket.IO emits ``auth`` (the handshake's auth)
at connect on ``/`` and ``/custom``, answers ``message`` with ``message-back`` and acks ``message-with-ack``
with its arguments. Deskline's variant runs ``DesklineServer`` (on ``DesklineEngine`` and its sockets, the
broadcast manager, the packet class and orjson) with ``always_connect=True``, so the connect reply goes out
before the connect handler's own emits, as Node's does.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

import engineio
import socketio
from aiohttp import web

from handlers import codec
from handlers.eio_server import DesklineEngine
from handlers.metrics import ObservedManager
from handlers.sio_server import DesklineServer

SETTINGS: dict[str, Any] = {
    "async_mode": "aiohttp",
    "ping_interval": 0.3,
    "ping_timeout": 0.2,
    "max_http_buffer_size": 1_000_000,
    "cors_allowed_origins": "*",
}


def engine_io(app: web.Application, stock: bool) -> None:
    """Attach the Engine.IO echo server at ``/engine.io/``."""
    eio = (engineio.AsyncServer if stock else DesklineEngine)(**SETTINGS)

    @eio.on("message")
    async def echo(sid: str, data: Any) -> None:
        await eio.send(sid, data)

    eio.attach(app, engineio_path="engine.io")


def socket_io(app: web.Application, stock: bool) -> None:
    """Attach the Socket.IO server at ``/socket.io/``."""
    if stock:
        sio = socketio.AsyncServer(always_connect=True, **SETTINGS)
    else:
        sio = DesklineServer(always_connect=True, client_manager=ObservedManager(), json=codec, **SETTINGS)

    async def connect(namespace: str, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.emit("auth", auth if auth is not None else {}, to=sid, namespace=namespace)  # Node's default: {}

    for namespace in ("/", "/custom"):
        sio.on("connect", namespace=namespace)(functools.partial(connect, namespace))

    @sio.on("message")
    async def message(sid: str, *args: Any) -> None:
        await sio.emit("message-back", args, to=sid)

    @sio.on("message-with-ack")
    async def message_with_ack(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    sio.attach(app, socketio_path="socket.io")


def main() -> None:
    """Serve both protocols on ``--port`` until killed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--stock", action="store_true", help="stock python-engineio/python-socketio, for comparison")
    args = parser.parse_args()
    app = web.Application()
    engine_io(app, args.stock)
    socket_io(app, args.stock)
    web.run_app(app, host="localhost", port=args.port, print=lambda *_: print("ready", flush=True))


if __name__ == "__main__":
    main()
