"""Presence on one server (in process) and on two in-process servers sharing Redis and a database."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pydantic import ValidationError

from config import Settings
from models.roles import Role
from tests.conftest import signed_in
from tests.helpers import Client, RunningServer


def changes(client: Client, user_id: str) -> list[str]:
    """The statuses ``client`` was told for ``user_id``, in order."""
    return [p["status"] for p in client.inbox.of("presence_changed") if p["user_id"] == user_id]


async def wait_status(client: Client, user_id: str, status: str) -> None:
    """Wait until ``client`` is told ``user_id`` is ``status``."""
    await client.inbox.wait_for("presence_changed", lambda p: p == {"user_id": user_id, "status": status})


async def test_watchers_see_online_then_offline_after_the_last_socket(server: RunningServer) -> None:
    watcher, _ = await signed_in(server, Role.CLIENT)
    first, ana = await signed_in(server, Role.CLIENT)
    ana_id = ana["user"]["id"]
    assert await watcher.ok("watch_presence", {"user_ids": [ana_id, "f" * 24]}) == {
        "statuses": {ana_id: "online", "f" * 24: "offline"}
    }
    await first.close()
    await wait_status(watcher, ana_id, "offline")
    second = await server.client(token=ana["access_token"])
    await wait_status(watcher, ana_id, "online")
    third = await server.client(token=ana["access_token"])
    await second.close()
    assert (await watcher.ok("get_presence", {"user_ids": [ana_id]}))["statuses"] == {ana_id: "online"}
    await third.close()
    await asyncio.sleep(0.1)
    assert changes(watcher, ana_id) == ["offline", "online", "offline"]
    await watcher.ok("unwatch_presence", {"user_ids": [ana_id]})
    await server.client(token=ana["access_token"])
    await asyncio.sleep(0.2)
    assert changes(watcher, ana_id) == ["offline", "online", "offline"]


async def account(server: RunningServer, role: Role) -> tuple[str, str]:
    """Create a user without connecting it; return (user id, access token)."""
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    user = await server.deps.accounts.create(email, None, f"{role} user", "correct horse battery", role, server.clock())
    return user.id, (await server.deps.accounts.issue(user, server.clock())).access_token


async def workspace_with(admin: Client, *user_ids: str) -> str:
    """Create a workspace with ``user_ids`` as members; return its id."""
    workspace = (await admin.ok("create_workspace", {"name": f"W {uuid.uuid4().hex[:6]}"}))["workspace"]
    for user_id in user_ids:
        await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": user_id})
    return str(workspace["id"])


async def test_staff_presence_reaches_workspace_colleagues_and_admins_only(server: RunningServer) -> None:
    admin, _ = await signed_in(server, Role.ADMIN)
    agent_id, agent_token = await account(server, Role.AGENT)
    colleague_id, colleague_token = await account(server, Role.AGENT)
    manager_id, manager_token = await account(server, Role.MANAGER)
    outsider_id, outsider_token = await account(server, Role.AGENT)
    _, loner_token = await account(server, Role.AGENT)
    shared = await workspace_with(admin, agent_id, colleague_id, manager_id)
    await workspace_with(admin, outsider_id, colleague_id)
    colleague = await server.client(token=colleague_token)
    manager = await server.client(token=manager_token)
    outsider = await server.client(token=outsider_token)  # staff of another workspace
    loner = await server.client(token=loner_token)  # staff of no workspace
    client, _ = await signed_in(server, Role.CLIENT)

    agent = await server.client(token=agent_token)
    other_tab = await server.client(token=agent_token)
    for told in (colleague, manager, admin):
        await wait_status(told, agent_id, "online")
    assert await agent.ok("set_status", {"status": "away"}) == {"user_id": agent_id, "status": "away"}
    for told in (colleague, manager, admin, other_tab):  # the agent's other devices follow too
        await wait_status(told, agent_id, "away")
    assert (await outsider.ok("get_presence", {"user_ids": [agent_id]}))["statuses"] == {agent_id: "away"}
    await asyncio.sleep(0.2)
    for untold in (outsider, loner, client):
        assert [p for p in untold.inbox.of("presence_changed") if p["user_id"] == agent_id] == []
    assert changes(colleague, agent_id) == ["online", "away"]
    # the outsider's own presence reaches the colleague (a shared workspace) but not the agent
    await outsider.ok("set_status", {"status": "away"})
    for told in (colleague, admin):
        await wait_status(told, outsider_id, "away")

    await admin.ok("add_workspace_member", {"workspace_id": shared, "user_id": outsider_id})
    await agent.ok("set_status", {"status": "online"})
    await wait_status(outsider, agent_id, "online")  # membership is read at each change
    await other_tab.close()
    await agent.close()
    await wait_status(outsider, agent_id, "offline")
    await asyncio.sleep(0.1)
    assert changes(colleague, agent_id) == ["online", "away", "online", "offline"]
    assert [p for p in loner.inbox.of("presence_changed") if p["user_id"] in (agent_id, outsider_id)] == []
    assert not any(p["user_id"] == outsider_id for p in agent.inbox.of("presence_changed"))


async def test_login_and_logout_on_an_open_socket(server: RunningServer) -> None:
    watcher, _ = await signed_in(server, Role.AGENT)
    socket = await server.client()
    pair = await socket.ok(
        "register", {"email": f"{uuid.uuid4().hex[:8]}@example.com", "name": "Eve", "password": "correct horse battery"}
    )
    eve = pair["user"]["id"]
    await watcher.ok("watch_presence", {"user_ids": [eve]})
    assert (await watcher.ok("get_presence", {"user_ids": [eve]}))["statuses"] == {eve: "online"}
    await socket.ok("logout", {})
    await wait_status(watcher, eve, "offline")
    await socket.ok("login", {"email": pair["user"]["email"], "password": "correct horse battery"})
    await wait_status(watcher, eve, "online")


async def test_bad_presence_requests(server: RunningServer) -> None:
    anonymous = await server.client()
    await anonymous.error("get_presence", {"user_ids": ["x"]}, "unauthorized")
    await anonymous.error("set_status", {"status": "away"}, "unauthorized")
    client, _ = await signed_in(server)
    for payload in ({"user_ids": []}, {"user_ids": "abc"}, {"user_ids": ["a"] * 201}, {"ids": ["a"]}, None, [1]):
        await client.error("get_presence", payload, "invalid_payload")
        await client.error("watch_presence", payload, "invalid_payload")
    for payload in ({"status": "busy"}, {"status": "offline"}, {}, {"status": "away", "x": 1}):
        await client.error("set_status", payload, "invalid_payload")
    assert (await client.ok("get_presence", {"user_ids": ["a", "a"]}))["statuses"] == {"a": "offline"}


async def test_two_servers_share_presence_through_redis(start_server, settings_for, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    shared = {"redis_url": redis_url, "redis_channel": f"t-{uuid.uuid4().hex[:10]}"}
    base = settings_for("sqlite", **shared)
    a = await start_server(settings=base)
    b = await start_server(settings=base.model_copy(update={"port": settings_for("sqlite").port}))
    admin, _ = await signed_in(a, Role.ADMIN)
    watcher, watcher_info = await signed_in(b, Role.AGENT)
    agent_id, agent_token = await account(a, Role.AGENT)
    await workspace_with(admin, agent_id, watcher_info["user"]["id"])
    agent_on_a = await a.client(token=agent_token)
    await wait_status(watcher, agent_id, "online")
    assert (await watcher.ok("get_presence", {"user_ids": [agent_id]}))["statuses"] == {agent_id: "online"}
    other_tab = await b.client(token=agent_token)
    await agent_on_a.close()
    await asyncio.sleep(0.2)
    assert (await watcher.ok("get_presence", {"user_ids": [agent_id]}))["statuses"] == {agent_id: "online"}
    await other_tab.ok("set_status", {"status": "away"})
    await wait_status(watcher, agent_id, "away")
    await other_tab.close()
    await wait_status(watcher, agent_id, "offline")
    assert changes(watcher, agent_id) == ["online", "away", "offline"]


def test_a_presence_ttl_a_heartbeat_outlives_is_refused_with_redis() -> None:
    """The check moved from handlers/presence.py to config.py: a bad pair fails when the settings are read."""
    redis = "redis://127.0.0.1:6379/0"
    assert Settings(redis_url=redis, presence_ttl_seconds=11, presence_heartbeat_seconds=10).presence_ttl_seconds == 11
    assert Settings(presence_ttl_seconds=5, presence_heartbeat_seconds=10).redis_url is None  # no heartbeat without it
    with pytest.raises(ValidationError, match="must be longer than"):
        Settings(redis_url=redis, presence_ttl_seconds=10, presence_heartbeat_seconds=10)
