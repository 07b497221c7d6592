"""``GET /ready``: 200 only when storage and Redis (if configured) answer and the instance is not stopping."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from handlers.ready import READY_KEY
from tests.helpers import RunningServer, free_port


async def get(url: str) -> tuple[int, Any]:
    """Return the status and JSON body of a GET."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def ready_becomes(url: str, status: int, timeout: float = 10) -> dict[str, Any]:
    """Poll ``/ready`` until it answers ``status``; return its body."""
    deadline = time.monotonic() + timeout
    while True:
        got, body = await get(f"{url}/ready")
        if got == status:
            return body
        assert time.monotonic() < deadline, f"/ready stayed {got}: {body}"
        await asyncio.sleep(0.2)


class ThrowawayRedis:
    """A ``redis-server`` of this test alone, on a free port, that the test stops and starts."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (.ci/run installs it)"
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it takes connections."""
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Stop it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    """A private Redis, stopped after the test."""
    redis = ThrowawayRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


async def test_ready_with_sqlite_and_health_stays_liveness(server: RunningServer) -> None:
    status, body = await get(f"{server.url}/ready")
    assert (status, body) == (200, {"status": "ready", "checks": {"storage": True}})
    server.app[READY_KEY].stopping = True  # what graceful shutdown does first
    status, body = await get(f"{server.url}/ready")
    assert (status, body["status"]) == (503, "stopping")
    status, body = await get(f"{server.url}/health")
    assert (status, body["status"]) == (200, "ok")
    server.app[READY_KEY].stopping = False
    assert (await get(f"{server.url}/ready"))[0] == 200


async def test_ready_follows_redis_down_and_up(start_server, throwaway_redis: ThrowawayRedis) -> None:  # type: ignore[no-untyped-def]
    srv = await start_server("sqlite", redis_url=throwaway_redis.url, redis_channel=f"ready-{uuid.uuid4().hex[:8]}")
    body = await ready_becomes(srv.url, 200)
    assert body["checks"] == {"storage": True, "redis": True}

    throwaway_redis.stop()
    body = await ready_becomes(srv.url, 503)
    assert body == {"status": "unavailable", "checks": {"storage": True, "redis": False}}
    status, health = await get(f"{srv.url}/health")
    assert (status, health["status"]) == (200, "ok")  # alive, just not ready

    throwaway_redis.start()
    body = await ready_becomes(srv.url, 200)
    assert body["checks"] == {"storage": True, "redis": True}
