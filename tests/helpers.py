"""Real servers and real Socket.IO clients for the tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from config import Settings
from handlers.context import DEPS_KEY
from models.clock import Clock
from models.common import utc_now
from server import SIO_KEY, create_app

ROOT = Path(__file__).resolve().parent.parent
CALL_TIMEOUT = 15


def npm_installed(folder: Path, package: str) -> Path:
    """Install ``folder``'s pinned npm packages (``npm ci``) unless ``package`` is there; return ``folder``."""
    if not (folder / "node_modules" / package).exists():
        npm = shutil.which("npm")
        assert npm, f"npm is required to install {folder.relative_to(ROOT)} (.ci/run installs it)"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, capture_output=True, timeout=300)
    return folder


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """Every push a client received, by event name, with waiting helpers."""

    def __init__(self) -> None:
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._changed = asyncio.Condition()

    async def record(self, event: str, *args: Any) -> None:
        """Store one push."""
        async with self._changed:
            self.events[event].append(args[0] if len(args) == 1 else list(args))
            self._changed.notify_all()

    async def wait_for(self, event: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 10) -> Any:
        """Return the first push of ``event`` matching ``predicate``, waiting for it if needed."""

        def find() -> Any:
            return next((item for item in self.events[event] if predicate(item)), None)

        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: find() is not None)
                return find()

    async def wait_count(self, event: str, count: int, timeout: float = 10) -> list[Any]:
        """Return the pushes of ``event`` once there are at least ``count``."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.events[event]) >= count)
                return list(self.events[event])

    def of(self, event: str) -> list[Any]:
        """Return the pushes of ``event`` received so far."""
        return list(self.events[event])


class Client:
    """A connected ``socketio.AsyncClient`` and everything pushed to it."""

    def __init__(self, sio: socketio.AsyncClient, inbox: Inbox) -> None:
        self.sio = sio
        self.inbox = inbox

    @property
    def sid(self) -> str:
        """This socket's id."""
        return str(self.sio.get_sid())

    async def call(self, event: str, payload: Any = None, timeout: float = CALL_TIMEOUT) -> Any:
        """Emit ``event`` and return the server's ack."""
        if payload is None:
            return await self.sio.call(event, timeout=timeout)
        return await self.sio.call(event, payload, timeout=timeout)

    async def ok(self, event: str, payload: Any = None) -> Any:
        """Emit ``event``, assert a success ack and return its data."""
        ack = await self.call(event, payload)
        assert ack["ok"] is True, f"{event} failed: {ack}"
        return ack["data"]

    async def error(self, event: str, payload: Any, code: str) -> dict[str, Any]:
        """Emit ``event``, assert an error ack with ``code`` and return the error."""
        ack = await self.call(event, payload)
        assert ack["ok"] is False, f"{event} should have failed: {ack}"
        assert ack["error"]["code"] == code, ack
        return ack["error"]

    async def emit(self, event: str, payload: Any = None) -> None:
        """Emit ``event`` without waiting for an ack (as old clients do)."""
        await self.sio.emit(event, payload)

    async def close(self) -> None:
        """Disconnect."""
        if self.sio.connected:
            await self.sio.disconnect()


async def connect_client(url: str, token: str | None = None, auth: dict[str, Any] | None = None) -> Client:
    """Connect a real Socket.IO client to ``url`` (websocket transport) and record its pushes."""
    sio = socketio.AsyncClient(reconnection=False)
    inbox = Inbox()
    sio.on("*", inbox.record)
    await sio.connect(
        url,
        auth=auth if auth is not None else ({"token": token} if token else None),
        transports=["websocket"],
        wait_timeout=10,
    )
    return Client(sio, inbox)


class RunningServer:
    """A Deskline app served in this event loop on a free port."""

    def __init__(self, settings: Settings, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        self.app = create_app(settings, clock)
        self.runner = web.AppRunner(self.app)
        self.clients: list[Client] = []

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def deps(self) -> Any:
        """The dependencies the app built (stores, clock, settings)."""
        return self.app[DEPS_KEY]

    async def start(self) -> RunningServer:
        """Open resources and listen."""
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.settings.port).start()
        return self

    async def client(self, token: str | None = None, auth: dict[str, Any] | None = None) -> Client:
        """Return a connected client, closed when the server stops."""
        client = await connect_client(self.url, token, auth)
        self.clients.append(client)
        return client

    async def stop(self) -> None:
        """Disconnect clients and shut down cleanly."""
        for client in self.clients:
            await client.close()
        sio = self.app[SIO_KEY]
        for _ in range(40):  # let the server notice the clients left before it shuts down
            if not sio.eio.sockets:
                break
            await asyncio.sleep(0.05)
        await self.runner.cleanup()


class ServerProcess:
    """``python server.py`` in its own process, as production runs it."""

    def __init__(self, env: dict[str, str], port: int, args: tuple[str, ...] = ()) -> None:
        self.port = port
        self.env = env
        self.args = args  # command-line arguments after server.py
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(env["DESKLINE_DATA_DIR"]) / f"server-{port}.log"

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20) -> ServerProcess:
        """Start the process and wait until /health answers."""
        Path(self.env["DESKLINE_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "DESKLINE_PORT": str(self.port), "DESKLINE_HOST": "127.0.0.1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "server.py", *self.args], cwd=ROOT, env=env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(f"{self.url}/health") as resp:
                        if resp.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        self.kill()  # never leave a half-started server behind
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """Kill -9, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait; return the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait(5)
        return self.proc.returncode if self.proc else None


async def start_all(*servers: ServerProcess) -> None:
    """Start the servers at once (as a deployment does); if one fails, stop the others and raise."""
    outcomes = await asyncio.gather(*(server.start() for server in servers), return_exceptions=True)
    failed = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failed:
        for server in servers:
            server.stop()
        raise failed[0]


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: Any = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> Any:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a ``timedelta(**delta)``."""
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)


async def refusal(url: str, auth: dict[str, Any] | None) -> Any:
    """Try to connect with ``auth`` and return what the server said when it refused (fails if accepted)."""
    sio = socketio.AsyncClient(reconnection=False)
    said: list[Any] = []
    sio.on("connect_error", lambda data: said.append(data))
    try:
        await sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        return said[-1] if said else None
    await sio.disconnect()
    raise AssertionError("the server accepted the connection")
