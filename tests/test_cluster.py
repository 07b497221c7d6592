"""Two real server processes sharing Redis and one database behave as one server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import ServerProcess, connect_client, free_port, start_all

MESSAGE = {"type": "chat", "side": "client", "author": "ana", "message_type": "text"}


@pytest.fixture
async def cluster(tmp_path: Path, redis_url: str, backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Two instances on one database (the same SQLite file, or one MongoDB database) and one Redis channel."""
    env = {
        "DESKLINE_DATA_DIR": str(tmp_path),
        "DESKLINE_REDIS_URL": redis_url,
        "DESKLINE_REDIS_CHANNEL": f"deskline-test-{uuid.uuid4().hex}",
        "DESKLINE_JWT_SECRET": "cluster-secret-" + "y" * 40,
        "DESKLINE_LOG_LEVEL": "WARNING",
    }
    if backend == "mongo":
        env["DESKLINE_MONGO_URL"] = request.getfixturevalue("mongo_url")
        env["DESKLINE_MONGO_DB"] = f"cluster_{uuid.uuid4().hex[:10]}"
    nodes = [ServerProcess(env, free_port()), ServerProcess(env, free_port())]
    await start_all(*nodes)
    clients: list[Any] = []

    async def client(node: int, **kwargs: Any) -> Any:
        made = await connect_client(nodes[node].url, **kwargs)
        clients.append(made)
        return made

    yield nodes, client
    for made in clients:
        await made.close()
    for node in nodes:
        node.stop()


async def test_health_says_redis_is_on(cluster: Any) -> None:
    nodes, _ = cluster
    async with aiohttp.ClientSession() as http, http.get(f"{nodes[0].url}/health") as resp:
        assert (await resp.json())["redis"] is True


async def test_room_message_reaches_both_instances_exactly_once(cluster: Any) -> None:
    _, client = cluster
    on_a, on_b, also_b, outsider = await client(0), await client(1), await client(1), await client(1)
    for member in (on_a, on_b, also_b):
        await member.ok("join", {"room": "shared"})
    await on_a.ok("message_event", {**MESSAGE, "room_id": "shared", "message_data": "from A"})
    await on_b.ok("message_event", {**MESSAGE, "room_id": "shared", "message_data": "from B"})
    for member in (on_a, on_b, also_b):
        for text in ("from A", "from B"):
            await member.inbox.wait_for("my_response", lambda m, t=text: m.get("data") == t)
    await asyncio.sleep(0.5)
    for member in (on_a, on_b, also_b):
        texts = [m.get("data") for m in member.inbox.of("my_response")]
        assert texts.count("from A") == 1 and texts.count("from B") == 1, texts
    assert not any(str(m.get("data")).startswith("from") for m in outsider.inbox.of("my_response"))


async def test_join_notice_and_history_cross_instances(cluster: Any) -> None:
    _, client = cluster
    on_a = await client(0)
    await on_a.ok("join", {"room": "hist"})
    await on_a.ok("message_event", {**MESSAGE, "room_id": "hist", "message_data": "stored on A"})
    on_b = await client(1)
    await on_b.ok("join", {"room": "hist"})
    await on_a.inbox.wait_for("my_response", lambda m: m.get("data") == f"{on_b.sid} Joined the Room")
    got = await on_b.inbox.wait_for("my_response", lambda m: m.get("data") == "stored on A")
    assert got == {"data": "stored on A", "sid": on_a.sid}


async def test_tokens_from_one_instance_work_on_the_other(cluster: Any) -> None:
    _, client = cluster
    on_a = await client(0)
    tokens = await on_a.ok("register", {"email": "x@example.com", "name": "X", "password": "correct horse battery"})
    on_b = await client(1, token=tokens["access_token"])
    assert (await on_b.ok("me"))["email"] == "x@example.com"
    renewed = await on_b.ok("refresh_token", {"refresh_token": tokens["refresh_token"]})
    await on_a.error("refresh_token", {"refresh_token": tokens["refresh_token"]}, "unauthorized")
    assert renewed["user"]["email"] == "x@example.com"
