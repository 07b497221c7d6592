"""``list_my_workspaces``: a staff member finds the workspaces to subscribe to, and only their own."""

from __future__ import annotations

from models.roles import Role
from tests.helpdesk_kit import admin_of, new_workspace, signed_in
from tests.helpers import RunningServer


async def test_a_member_lists_exactly_their_own_workspaces_and_loses_one_when_removed(
    any_server: RunningServer,
) -> None:
    admin = await admin_of(any_server)
    acme, _ = await new_workspace(admin, "Acme")
    globex, _ = await new_workspace(admin, "Globex")
    other, _ = await new_workspace(admin, "Initech")
    agent, info = await signed_in(any_server, Role.AGENT)
    outsider, outsider_info = await signed_in(any_server, Role.AGENT)
    me = info["user"]["id"]
    await admin.ok("add_workspace_member", {"workspace_id": acme["id"], "user_id": me})
    await admin.ok("add_workspace_member", {"workspace_id": globex["id"], "user_id": me})
    await admin.ok("add_workspace_member", {"workspace_id": other["id"], "user_id": outsider_info["user"]["id"]})

    mine = await agent.ok("list_my_workspaces")
    assert [(m["workspace"]["name"], m["member"]["user_id"], m["member"]["role"]) for m in mine] == [
        ("Acme", me, "agent"),
        ("Globex", me, "agent"),
    ]
    assert all("api_key" not in m["workspace"] and "widget_token" not in m["workspace"] for m in mine)
    assert "key_hash" not in str(mine) and "identity_secret" not in str(mine)
    assert [m["workspace"]["name"] for m in await outsider.ok("list_my_workspaces")] == ["Initech"]

    await admin.ok("remove_workspace_member", {"workspace_id": acme["id"], "user_id": me})
    assert [m["workspace"]["name"] for m in await agent.ok("list_my_workspaces")] == ["Globex"]
    await admin.ok("delete_workspace", {"workspace_id": globex["id"]})
    assert await agent.ok("list_my_workspaces") == []


async def test_anonymous_and_widget_sockets_are_refused_and_a_client_has_none(server: RunningServer) -> None:
    anonymous = await server.client()
    await anonymous.error("list_my_workspaces", {}, "unauthorized")
    admin = await admin_of(server)
    created = await admin.ok("create_workspace", {"name": "Shop", "products": ["shop"]})
    visitor = await server.client(auth={"widget_token": created["widget_token"]})
    refused = await visitor.call("list_my_workspaces", {})
    assert refused["ok"] is False and refused["error"]["code"] in {"unauthorized", "forbidden"}
    client, _ = await signed_in(server, Role.CLIENT)
    assert await client.ok("list_my_workspaces") == []
    assert await admin.ok("list_my_workspaces") == []  # admins see every workspace with list_workspaces instead
