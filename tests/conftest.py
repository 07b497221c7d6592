"""Shared fixtures: a real MongoDB-wire server, real Deskline servers, real clients."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from redis.asyncio import Redis

from config import Settings
from models.roles import Role
from tests.helpers import Client, ManualClock, RunningServer, free_port

REAL_MONGO = os.environ.get("DESKLINE_TEST_MONGO_URL")
BACKENDS = ["sqlite", "mongo"]


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    """A MongoDB URL: DESKLINE_TEST_MONGO_URL when set, else a secantusdb server started here."""
    if REAL_MONGO:
        yield REAL_MONGO
        return
    binary = shutil.which("secantusd-py")
    assert binary, "secantusdb is not installed: pip install -r requirements-dev.txt"
    port = free_port()
    data = tempfile.mkdtemp(prefix="deskline-secantus-")
    log = open(Path(data) / "secantus.log", "wb")
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--storage-path", data, "--log-level", "WARNING"],
        stdout=log,
        stderr=log,
    )
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    deadline = time.monotonic() + 60
    while True:
        try:
            with MongoClient(url, serverSelectionTimeoutMS=500) as probe:
                probe.admin.command("ping")
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((Path(data) / "secantus.log").read_text()[-2000:]) from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def redis_url() -> str:
    """The Redis the tests share (CI starts one when none answers)."""
    return os.environ.get("DESKLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client of the test Redis (e.g. to count subscribers with PUBSUB NUMSUB)."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand."""
    return ManualClock()


def make_settings(tmp_path: Path, backend: str, mongo_url: str | None = None, **overrides: Any) -> Settings:
    """Return settings for a test server on a free port with its own data dir (and database)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "data_dir": tmp_path / f"data-{uuid.uuid4().hex[:8]}",
        "jwt_secret": "test-secret-" + "x" * 40,
        "log_level": "WARNING",
    }
    if backend == "mongo":
        assert mongo_url
        values["mongo_url"] = mongo_url
        values["mongo_db"] = f"t_{uuid.uuid4().hex[:12]}"
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each storage backend in turn."""
    return str(request.param)


@pytest.fixture
def settings_for(tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Factory of settings for a backend; asks for the Mongo fixture only when needed."""

    def factory(backend: str = "sqlite", **overrides: Any) -> Settings:
        url = request.getfixturevalue("mongo_url") if backend == "mongo" else None
        return make_settings(tmp_path, backend, url, **overrides)

    return factory


@pytest.fixture
async def start_server(settings_for) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    """Factory that starts in-process servers and stops them after the test."""
    servers: list[RunningServer] = []

    async def start(backend: str = "sqlite", clock: Any = None, settings: Settings | None = None, **overrides: Any):
        srv = RunningServer(settings or settings_for(backend, **overrides), **({"clock": clock} if clock else {}))
        servers.append(srv)
        return await srv.start()

    yield start
    for srv in reversed(servers):
        await srv.stop()


@pytest.fixture
async def server(start_server) -> RunningServer:  # type: ignore[no-untyped-def]
    """A server on the embedded SQLite backend."""
    return await start_server("sqlite")


@pytest.fixture
async def any_server(start_server, backend: str) -> RunningServer:  # type: ignore[no-untyped-def]
    """A server on each backend in turn."""
    return await start_server(backend)


async def signed_in(
    server: RunningServer, role: Role | str = Role.CLIENT, name: str | None = None
) -> tuple[Client, dict[str, Any]]:
    """Create a user of ``role`` directly in the store and return a client connected with its token."""
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user = await server.deps.accounts.create(
        email, None, name or f"{role} user", "correct horse battery", Role(role), server.clock()
    )
    pair = await server.deps.accounts.issue(user, server.clock())
    client = await server.client(token=pair.access_token)
    return client, {
        "user": user.model_dump(mode="json"),
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "email": email,
    }
