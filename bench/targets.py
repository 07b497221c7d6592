"""The servers under test: Node socket.io, bare python-socketio and Deskline, each one process pinned to a core.

A ``Target`` says how to start the server(s) and which acked event is the no-storage one: ``echo`` on the
references; on Deskline ``get_presence`` for the client's own user (signed in with a JWT at connect; the
presence registry is in memory without Redis, so it touches no database).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import eio
from bench.procs import NODE_REF, ROOT, Server, free_port, python

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench admin password"
CHEAP_ARGON2 = {
    "DESKLINE_ARGON2_TIME_COST": "1",
    "DESKLINE_ARGON2_MEMORY_KIB": "8192",
    "DESKLINE_ARGON2_PARALLELISM": "1",
}
# The load generator sends far faster per socket than a person: per-socket and per-user event limits would refuse
# most of it, so the bench measures Deskline with them off (Node and bare python-socketio have none).
NO_RATE_LIMITS = {
    "DESKLINE_RATE_LIMIT_DEFAULT": "off",
    "DESKLINE_RATE_LIMIT_CALLS": "off",
    "DESKLINE_RATE_LIMIT_AUTH": "off",
}
NAMES = {
    "node": "Node socket.io",
    "py": "bare python-socketio",
    "layer": "Deskline's socket layer",
    "deskline": "Deskline",
}


@dataclass
class Target:
    """Running server(s) of one kind, and how a bench client talks to them."""

    kind: str
    servers: list[Server]
    auth: dict[str, Any] | None = None
    echo_event: str = "echo"
    echo_payload: Any = field(default_factory=lambda: {"n": 1, "text": "hello"})
    admin: tuple[str, str] = (ADMIN_EMAIL, ADMIN_PASSWORD)

    @property
    def name(self) -> str:
        """Human name of the server kind."""
        return NAMES[self.kind]

    @property
    def port(self) -> int:
        """Port of the first instance."""
        return self.servers[0].port

    @property
    def url(self) -> str:
        """Base URL of the first instance."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> dict[str, int | str]:
        """Process ids to meter: every server instance, and this generator."""
        pids: dict[str, int | str] = {f"server{i}": s.pid for i, s in enumerate(self.servers)}
        return pids | {"generator": "self"}


def node_server(workdir: Path, core: int | None) -> Server:
    """The Node socket.io 4.8 reference."""
    port = free_port()
    cmd = ["node", str(NODE_REF / "server.js")]
    return Server("node", cmd, port, {"PORT": str(port)}, workdir / f"node-{port}.log", core)


def py_server(workdir: Path, core: int | None, layer: bool = False) -> Server:
    """The bare python-socketio reference (on Deskline's socket layer if ``layer``)."""
    port = free_port()
    cmd = [python(), str(ROOT / "bench" / "py_ref.py"), "--port", str(port)] + (["--layer"] if layer else [])
    kind = "layer" if layer else "py"
    return Server(kind, cmd, port, {}, workdir / f"{kind}-{port}.log", core)


def deskline_env(data_dir: Path, port: int, secret: str, redis_channel: str | None) -> dict[str, str]:
    """Environment of one Deskline instance (SQLite in ``data_dir``, quiet logs, cheap password hashing)."""
    env = {
        "DESKLINE_DATA_DIR": str(data_dir),
        "DESKLINE_PORT": str(port),
        "DESKLINE_HOST": "127.0.0.1",
        "DESKLINE_LOG_LEVEL": "WARNING",
        "DESKLINE_JWT_SECRET": secret,
        **CHEAP_ARGON2,
        **NO_RATE_LIMITS,
    }
    if redis_channel:
        env |= {"DESKLINE_REDIS_URL": "redis://127.0.0.1:6379/0", "DESKLINE_REDIS_CHANNEL": redis_channel}
    return env


def deskline_servers(
    workdir: Path, core: int | None, instances: int, redis: bool, env: dict[str, str] | None = None
) -> list[Server]:
    """``instances`` Deskline processes sharing one SQLite data dir (and a unique Redis channel if ``redis``);
    ``env`` adds settings."""
    data_dir = Path(tempfile.mkdtemp(prefix="deskline-data-", dir=workdir))
    channel = f"deskline-bench-{uuid.uuid4().hex[:12]}" if redis else None
    secret = "bench-secret-" + uuid.uuid4().hex
    servers = []
    for _ in range(instances):
        port = free_port()
        settings = deskline_env(data_dir, port, secret, channel) | (env or {})
        servers.append(
            Server("deskline", [python(), "server.py"], port, settings, data_dir / f"server-{port}.log", core)
        )
    return servers


def create_admin(server: Server) -> None:
    """Create the bench admin in the instance's database (before it starts)."""
    cmd = [python(), "server.py", "create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD]
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, **server.env}, check=True, capture_output=True, timeout=60)


async def sign_in(target: Target) -> None:
    """Log the admin in once and make every bench client connect with its access token."""
    client = await eio.connect("127.0.0.1", target.port)
    try:
        ack = await client.call("login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    finally:
        client.close()
    if not ack.get("ok"):
        raise RuntimeError(f"bench admin login failed: {ack}")
    target.auth = {"token": ack["data"]["access_token"]}
    target.echo_event = "get_presence"
    target.echo_payload = {"user_ids": [ack["data"]["user"]["id"]]}


@asynccontextmanager
async def running(
    kind: str,
    workdir: Path,
    core: int | None,
    instances: int = 1,
    redis: bool = False,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Target]:
    """Start the server(s) of ``kind`` (Deskline's with ``env`` added), yield the target, and always stop them."""
    if kind == "node":
        servers = [node_server(workdir, core)]
    elif kind in ("py", "layer"):
        servers = [py_server(workdir, core, layer=kind == "layer")]
    else:
        servers = deskline_servers(workdir, core, instances, redis, env)
        await asyncio.to_thread(create_admin, servers[0])
    try:
        for server in servers:
            await server.start()
        target = Target(kind, servers)
        if kind == "deskline":
            await sign_in(target)
        await asyncio.sleep(0.5)  # let start-up work settle before anything is metered
        yield target
    finally:
        for server in servers:  # in a thread: this loop must go on closing the clients' connections meanwhile
            await asyncio.to_thread(server.stop)
