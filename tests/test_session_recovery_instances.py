"""Connection-state recovery across processes, with the unmodified JS client: the session and the events it
missed are in the database, so a socket is recovered after its server restarts and on another instance.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import Client, ServerProcess, connect_client, free_port, start_all
from tests.recovery_kit import JsClients, chat_lines, js, say

__all__ = ["js"]  # fixture

ROOM = "lobby"


def env_of(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a server process on its own data folder."""
    return {
        "DESKLINE_DATA_DIR": str(tmp_path / "data"),
        "DESKLINE_JWT_SECRET": "recovery-secret-" + "r" * 40,
        "DESKLINE_LOG_LEVEL": "WARNING",
        **extra,
    }


@pytest.fixture
async def two_instances(tmp_path: Path, redis_url: str, mongo_url: str) -> AsyncIterator[list[ServerProcess]]:
    """Two server processes on one MongoDB database and one Redis channel."""
    env = env_of(
        tmp_path,
        DESKLINE_MONGO_URL=mongo_url,
        DESKLINE_MONGO_DB=f"recovery_{uuid.uuid4().hex[:10]}",
        DESKLINE_REDIS_URL=redis_url,
        DESKLINE_REDIS_CHANNEL=f"deskline-recovery-{uuid.uuid4().hex}",
    )
    nodes = [ServerProcess(env, free_port()), ServerProcess(env, free_port())]
    await start_all(*nodes)
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def writer_on(url: str) -> Client:
    """A python-socketio client in the chat room."""
    writer = await connect_client(url)
    await writer.call("join", {"room": ROOM})
    return writer


@pytest.mark.timeout(90)
async def test_a_socket_is_recovered_after_its_server_restarts(tmp_path: Path, js: JsClients) -> None:
    port = free_port()
    node = await ServerProcess(env_of(tmp_path), port).start()
    try:
        first = await js.open("a", node.url)
        await js.call("a", "join", {"room": ROOM})
        writer = await writer_on(node.url)
        await say(writer, ROOM, "before")
        await js.seen_until("a", lambda ev: "before" in chat_lines(ev, writer.sid))
        old_writer = writer.sid
        await writer.close()

        assert node.stop() == 0  # SIGTERM: every socket is closed, so its client would reconnect at once
        node = await ServerProcess(env_of(tmp_path), port).start()  # the same port and database
        writer = await writer_on(node.url)
        await say(writer, ROOM, "while it was away")
        back = await js.reconnect("a")
        assert back["recovered"] is True
        assert back["id"] == first["id"]
        await say(writer, ROOM, "after")
        events = await js.seen_until("a", lambda ev: "after" in chat_lines(ev, writer.sid))
        assert chat_lines(events, old_writer) == ["before"]
        assert chat_lines(events, writer.sid) == ["while it was away", "after"]
        await writer.close()
    finally:
        node.stop()


@pytest.mark.timeout(90)
async def test_a_socket_is_recovered_on_another_instance_behind_redis(
    two_instances: list[ServerProcess], js: JsClients
) -> None:
    a, b = two_instances
    first = await js.open("phone", a.url)
    await js.call("phone", "join", {"room": ROOM})
    writer = await writer_on(b.url)  # on the other instance: its broadcasts reach A over Redis
    await say(writer, ROOM, "m0")
    await js.seen_until("phone", lambda ev: "m0" in chat_lines(ev, writer.sid))

    await js.send(drop="phone")
    for text in ("m1", "m2"):
        await say(writer, ROOM, text)
    back = await js.reconnect("phone", b.url)  # the proxy sends it to B this time
    assert back["recovered"] is True
    assert back["id"] == first["id"]
    await say(writer, ROOM, "m3")
    events = await js.seen_until("phone", lambda ev: "m3" in chat_lines(ev, writer.sid))
    assert chat_lines(events, writer.sid) == ["m0", "m1", "m2", "m3"]
    await writer.close()
