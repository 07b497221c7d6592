"""Presence of a socket that drops and is recovered (connection-state recovery), with the unmodified JS client:
within the grace period its user never reads offline and nobody is told anything; past it, offline then online."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import signed_in
from tests.helpers import Client, ServerProcess, connect_client, free_port, start_all
from tests.recovery_kit import JsClients, js
from tests.test_session_recovery_instances import env_of

__all__ = ["js"]  # fixture

QUIET = 0.6  # long enough for a push that was sent to arrive


def changes_of(watcher: Client, user_id: str) -> list[str]:
    """Return the statuses of ``user_id`` the watcher was told of, in order."""
    return [p["status"] for p in watcher.inbox.of("presence_changed") if p["user_id"] == user_id]


async def status_of(client: Client, user_id: str) -> str:
    """Return ``user_id``'s status as ``get_presence`` reads it now."""
    return str((await client.ok("get_presence", {"user_ids": [user_id]}))["statuses"][user_id])


async def test_a_socket_recovered_within_the_grace_never_reads_offline(server: Any, js: JsClients) -> None:
    mine, me = await signed_in(server, "agent")
    await mine.close()  # the JS socket is the user's only one
    watcher, _ = await signed_in(server, "agent")
    user_id = me["user"]["id"]
    first = await js.open("a", server.url, auth={"token": me["access_token"]})
    await watcher.ok("watch_presence", {"user_ids": [user_id]})

    await js.send(drop="a")
    await js.driver.next("disconnected", disconnected="a")
    await asyncio.sleep(QUIET)
    assert await status_of(watcher, user_id) == "online"  # in its grace (10 s by default)
    back = await js.reconnect("a")
    assert back["recovered"] is True and back["id"] == first["id"]
    await asyncio.sleep(QUIET)
    assert changes_of(watcher, user_id) == []  # no offline, no online: nothing happened
    assert await status_of(watcher, user_id) == "online"


async def test_past_the_grace_the_user_goes_offline_then_online_when_it_comes_back(
    start_server: Any, js: JsClients
) -> None:
    server = await start_server(presence_grace_seconds=0.5)
    mine, me = await signed_in(server, "agent")
    await mine.close()  # the JS socket is the user's only one
    watcher, _ = await signed_in(server, "agent")
    user_id = me["user"]["id"]
    await js.open("a", server.url, auth={"token": me["access_token"]})
    await watcher.ok("watch_presence", {"user_ids": [user_id]})

    await js.send(drop="a")
    await watcher.inbox.wait_for("presence_changed", lambda p: p["user_id"] == user_id)
    assert await status_of(watcher, user_id) == "offline"
    back = await js.reconnect("a")
    assert back["recovered"] is True  # the recovery window (120 s) is longer than the grace
    await watcher.inbox.wait_for("presence_changed", lambda p: p["user_id"] == user_id and p["status"] == "online")
    assert changes_of(watcher, user_id) == ["offline", "online"]


@pytest.fixture
async def graced_pair(tmp_path: Path, redis_url: str) -> AsyncIterator[list[ServerProcess]]:
    """Two instances on one SQLite file and one Redis channel, with a one-second presence grace."""
    env = env_of(
        tmp_path,
        DESKLINE_REDIS_URL=redis_url,
        DESKLINE_REDIS_CHANNEL=f"deskline-grace-{uuid.uuid4().hex}",
        DESKLINE_PRESENCE_GRACE_SECONDS="1",
    )
    nodes = [ServerProcess(env, free_port()), ServerProcess(env, free_port())]
    await start_all(*nodes)
    try:
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.timeout(90)
async def test_a_socket_recovered_on_another_instance_keeps_its_user_online(
    graced_pair: list[ServerProcess], js: JsClients
) -> None:
    a, b = graced_pair
    registrar = await connect_client(a.url)
    tokens = await registrar.ok(
        "register", {"email": "p@example.com", "name": "P", "password": "correct horse battery"}
    )
    await registrar.close()  # the JS socket is the user's only one
    watcher = await connect_client(b.url)
    await watcher.ok("register", {"email": "w@example.com", "name": "W", "password": "correct horse battery"})
    user_id = tokens["user"]["id"]
    first = await js.open("a", a.url, auth={"token": tokens["access_token"]})
    await watcher.ok("watch_presence", {"user_ids": [user_id]})

    await js.send(drop="a")
    await js.driver.next("disconnected", disconnected="a")
    back = await js.reconnect("a", b.url)
    assert back["recovered"] is True and back["id"] == first["id"]
    await asyncio.sleep(2.5)  # A's grace for the dropped socket ends meanwhile
    assert changes_of(watcher, user_id) == []
    assert await status_of(watcher, user_id) == "online"
    await js.send(close="a")  # leaving on purpose: offline at once, and the watcher is told
    await watcher.inbox.wait_for("presence_changed", lambda p: p["user_id"] == user_id)
    assert changes_of(watcher, user_id) == ["offline"]
    await watcher.close()
