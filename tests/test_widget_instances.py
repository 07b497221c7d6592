"""Widget credentials across instances: rotating the token (or deleting the workspace) on one instance ends
the widget sockets that used it on every instance, at once rather than at their next event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from models.roles import Role
from tests.helpdesk_kit import keyed
from tests.helpers import Client, ServerProcess, connect_client
from tests.test_instances import Cluster, cluster  # noqa: F401  (the two-process fixture)


async def widget(cluster: Cluster, server: ServerProcess, **auth: Any) -> Client:  # noqa: F811
    """A widget socket connected to ``server`` with ``auth``."""
    client = await connect_client(server.url, auth=auth)
    cluster.clients.append(client)
    return client


async def ended(client: Client) -> None:
    """Wait until the server closed the socket (the client has no reconnection)."""
    await asyncio.wait_for(client.sio.wait(), 5)
    assert not client.sio.connected


@pytest.mark.parametrize("cluster", ["sqlite", "mongo"], indirect=True)
async def test_rotating_on_one_instance_ends_the_old_tokens_widgets_on_the_other(cluster: Cluster) -> None:  # noqa: F811
    _, admin_token = await cluster.user(Role.ADMIN, "Ada")
    admin = await cluster.client(cluster.a, admin_token)
    created = await admin.ok("create_workspace", {"name": "Shop", "products": ["shop"]})
    workspace, token = created["workspace"], created["widget_token"]
    other = (await admin.ok("create_workspace", {"name": "Other"}))["widget_token"]
    manager = {"user_id": "lm-ana", "positions_in_a_line": 1, "average_serving_time": 3, "ticket_count": 0}
    await (await cluster.client(cluster.a)).ok("create_line_manager", keyed(workspace, created["api_key"], **manager))

    visitor = await widget(cluster, cluster.b, widget_token=token)
    secret = (await visitor.ok("widget_open", {"product": "shop"}))["visitor_secret"]
    returning = await widget(cluster, cluster.b, widget_token=token, visitor_secret=secret)
    just_token = await widget(cluster, cluster.b, widget_token=token)
    here = await widget(cluster, cluster.a, widget_token=token)
    bystander = await widget(cluster, cluster.b, widget_token=other)

    new_token = (await admin.ok("rotate_widget_token", {"workspace_id": workspace["id"]}))["widget_token"]
    for socket in (visitor, returning, just_token, here):
        assert (await socket.inbox.wait_for("widget_token_revoked"))["reason"] == "rotated"
        await ended(socket)  # without sending anything: not refused later, ended now
    assert bystander.sio.connected and await bystander.ok("widget_conversations") == []

    back = await widget(cluster, cluster.b, widget_token=new_token, visitor_secret=secret)
    assert len(await back.ok("widget_conversations")) == 1
    await admin.ok("delete_workspace", {"workspace_id": workspace["id"]})
    assert (await back.inbox.wait_for("widget_token_revoked"))["reason"] == "deleted"
    await ended(back)
    assert bystander.sio.connected


@pytest.mark.parametrize("cluster", ["sqlite", "mongo"], indirect=True)
async def test_a_resend_through_the_other_instance_is_stored_once_and_typing_crosses(cluster: Cluster) -> None:  # noqa: F811
    _, admin_token = await cluster.user(Role.ADMIN, "Ada")
    admin = await cluster.client(cluster.a, admin_token)
    created = await admin.ok("create_workspace", {"name": "Shop", "products": ["shop"]})
    workspace, token = created["workspace"], created["widget_token"]
    manager = {"user_id": "lm-ana", "positions_in_a_line": 1, "average_serving_time": 3, "ticket_count": 0}
    await (await cluster.client(cluster.a)).ok("create_line_manager", keyed(workspace, created["api_key"], **manager))
    agent_id, agent_token = await cluster.user(Role.AGENT, "Ana")
    await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": agent_id})
    agent = await cluster.client(cluster.a, agent_token)

    first = await widget(cluster, cluster.a, widget_token=token)
    opened = await first.ok("widget_open", {"product": "shop"})
    ticket_id = opened["ticket"]["_id"]
    second = await widget(cluster, cluster.b, widget_token=token, visitor_secret=opened["visitor_secret"])
    send = {"ticket_id": ticket_id, "message_data": "once", "client_id": "cross-instance-1"}
    answers = await asyncio.gather(first.call("widget_send", send), second.call("widget_send", send))
    stored = {a["data"]["_id"] for a in answers if a["ok"]}
    assert len(stored) == 1 and all(a["ok"] or a["error"]["code"] == "conflict" for a in answers), answers
    assert (await second.ok("widget_send", send))["_id"] in stored
    assert [m["message_data"] for m in await first.ok("widget_messages", {"ticket_id": ticket_id})] == ["once"]

    await agent.ok("get_ticket", {"ticket_id": ticket_id})
    await agent.ok("typing", {"ticket_id": ticket_id, "typing": True})  # instance a → the visitor on b
    assert (await second.inbox.wait_for("widget_agent_typing"))["name"] == "Ana"
    await second.ok("widget_typing", {"ticket_id": ticket_id, "typing": True})  # b → the agent on a
    assert (await agent.inbox.wait_for("typing", lambda t: t["user_id"] == opened["visitor_id"]))["typing"] is True
