"""Attacks on the private rooms a recovered socket gets back: each is given back only after the right that let the
socket in is checked again, so a member removed during the drop does not get the workspace's rooms back."""

from __future__ import annotations

import asyncio

from models.rooms import presence_room, workspace_room, workspace_staff_room
from server import SIO_KEY
from tests.helpers import Client, RunningServer, connect_client
from tests.security.test_session_recovery_attacks import drop
from tests.test_helpdesk import desk


async def rooms_once_restored(server: RunningServer, sid: str, restored: str) -> set[str]:
    """Return the rooms of ``sid`` once ``restored`` is among them (rooms come back just after the CONNECT reply)."""
    sio = server.app[SIO_KEY]
    for _ in range(100):
        if restored in sio.rooms(sid):
            break
        await asyncio.sleep(0.05)
    return set(sio.rooms(sid))


async def subscribed_agent(server: RunningServer, token: str, workspace_id: str, watched: str) -> Client:
    """A recovering agent socket subscribed to the workspace and watching a user's presence."""
    agent = await connect_client(server.url, auth={"token": token, "recover": True})
    await agent.ok("subscribe_workspace", {"workspace_id": workspace_id})
    await agent.ok("watch_presence", {"user_ids": [watched]})
    return agent


async def test_a_member_still_in_the_workspace_gets_its_private_rooms_back(any_server: RunningServer) -> None:
    d = await desk(any_server)
    ws, me = d.workspace["id"], d.ids["any_agent"]
    agent = await subscribed_agent(any_server, d.tokens["any_agent"], ws, d.ids["client"])
    sid = agent.sid
    pid = await drop(any_server, agent)

    back = await connect_client(any_server.url, auth={"token": d.tokens["any_agent"], "pid": pid, "offset": "0"})
    assert back.sid == sid
    rooms = await rooms_once_restored(any_server, sid, workspace_staff_room(ws, me))
    assert {workspace_room(ws), workspace_staff_room(ws, me), presence_room(d.ids["client"])} <= rooms
    await back.close()


async def test_a_member_removed_during_the_drop_does_not_get_the_workspace_rooms_back(
    any_server: RunningServer,
) -> None:
    d = await desk(any_server)
    ws, me = d.workspace["id"], d.ids["any_agent"]
    agent = await subscribed_agent(any_server, d.tokens["any_agent"], ws, d.ids["client"])
    sid = agent.sid
    pid = await drop(any_server, agent)
    await d.admin.ok("remove_workspace_member", {"workspace_id": ws, "user_id": me})

    back = await connect_client(any_server.url, auth={"token": d.tokens["any_agent"], "pid": pid, "offset": "0"})
    assert back.sid == sid  # recovered: its own sid, but not what the removal took away
    rooms = await rooms_once_restored(any_server, sid, presence_room(d.ids["client"]))
    assert workspace_room(ws) not in rooms and workspace_staff_room(ws, me) not in rooms
    assert presence_room(d.ids["client"]) in rooms  # any signed-in user may watch a presence
    await any_server.app[SIO_KEY].emit("workspace_note", {"for": "members"}, to=workspace_room(ws))
    await asyncio.sleep(0.3)
    assert back.inbox.of("workspace_note") == []
    await back.close()


async def test_another_users_staff_room_is_never_restored(any_server: RunningServer) -> None:
    """A saved session naming another member's staff room (never joinable by this user) gets nothing back."""
    d = await desk(any_server)
    ws = d.workspace["id"]
    agent = await subscribed_agent(any_server, d.tokens["any_agent"], ws, d.ids["client"])
    sid = agent.sid
    foreign = workspace_staff_room(ws, d.ids["manager"])
    await any_server.app[SIO_KEY].enter_room(sid, foreign)  # the saved session now names it
    pid = await drop(any_server, agent)

    back = await connect_client(any_server.url, auth={"token": d.tokens["any_agent"], "pid": pid, "offset": "0"})
    assert back.sid == sid
    rooms = await rooms_once_restored(any_server, sid, workspace_staff_room(ws, d.ids["any_agent"]))
    assert workspace_staff_room(ws, d.ids["any_agent"]) in rooms and foreign not in rooms
    await back.close()
