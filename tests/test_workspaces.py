"""Workspace administration and API-key checks, through real sockets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from models.roles import Role
from server import SIO_KEY
from tests.helpdesk_kit import admin_of, keyed, new_workspace, signed_in, stored_text
from tests.helpers import Client, RunningServer
from tests.test_helpdesk import desk, loads, ticket_payload
from tests.test_helpdesk_load import load_drift


async def test_create_returns_key_once_and_stores_only_its_hash(any_server: RunningServer) -> None:
    admin = await admin_of(any_server)
    workspace, key = await new_workspace(admin, products=["chat", "mail", "chat"], auto_assign=False)
    assert key.startswith("dk_") and len(key) > 40
    assert workspace["products"] == ["chat", "mail"] and workspace["auto_assign"] is False
    assert workspace["key_hint"] == key[:7]
    assert "api_key" not in workspace and "key_hash" not in workspace
    fetched = await admin.ok("get_workspace", {"workspace_id": workspace["id"]})
    assert fetched == workspace
    listed = await admin.ok("list_workspaces", {})
    assert listed["workspaces"] == [workspace] and listed["next_cursor"] is None
    assert key not in str(listed)
    assert key not in await stored_text(any_server)


async def test_the_key_opens_dowell_events_and_rotation_closes_the_old_one(server: RunningServer) -> None:
    admin = await admin_of(server)
    workspace, key = await new_workspace(admin)
    old = await server.client()
    await old.ok("create_topic", keyed(workspace, key, name="billing"))

    rotated = await admin.ok("rotate_workspace_key", {"workspace_id": workspace["id"]})
    new_key = rotated["api_key"]
    assert new_key != key and rotated["workspace"]["key_hint"] == new_key[:7]
    error = await old.error("get_all_topics", keyed(workspace, key), "unauthorized")
    assert error["message"] == "Invalid API key"
    assert old.inbox.of("setting_response")[-1] == {
        "data": "Invalid API key",
        "status": "failure",
        "operation": "get_all_topics",
    }
    topics = await old.ok("get_all_topics", keyed(workspace, new_key))
    assert [t["name"] for t in topics] == ["BILLING"]


def support_rooms(server: RunningServer, client: Client) -> list[str]:
    """The support rooms the server has this socket in."""
    return [r for r in server.app[SIO_KEY].rooms(client.sid) if r.startswith("support:")]


async def dowell_socket_in_rooms(server: RunningServer, workspace: dict[str, Any], key: str, ticket_id: str) -> Client:
    """A Dowell socket that joined the workspace room and a ticket room with ``key``."""
    c = await server.client()
    await c.ok("get_all_topics", keyed(workspace, key))
    await c.ok("get_ticket_messages", keyed(workspace, key, ticket_id=ticket_id))
    assert len(support_rooms(server, c)) == 2
    return c


async def test_rotating_or_deleting_cuts_old_key_sockets_off_the_support_rooms(any_server: RunningServer) -> None:
    admin = await admin_of(any_server)
    workspace, key = await new_workspace(admin)
    setup = await any_server.client()
    await setup.ok("create_topic", keyed(workspace, key, name="billing"))
    fields = {"positions_in_a_line": 1, "average_serving_time": 1}
    await setup.ok("create_line_manager", keyed(workspace, key, user_id="m", **fields))
    ticket = await setup.ok("create_ticket", keyed(workspace, key, user_id="u", product="p"))
    old = await dowell_socket_in_rooms(any_server, workspace, key, ticket["_id"])

    new_key = (await admin.ok("rotate_workspace_key", {"workspace_id": workspace["id"]}))["api_key"]
    told = await old.inbox.wait_for("workspace_key_revoked")
    assert told == {"workspace_id": workspace["id"], "reason": "rotated"}
    assert support_rooms(any_server, old) == []
    fresh = await dowell_socket_in_rooms(any_server, workspace, new_key, ticket["_id"])
    await old.emit("get_all_topics", keyed(workspace, key))  # a late join with the dead key is refused
    await old.inbox.wait_for("setting_response", lambda m: m["data"] == "Invalid API key")

    said = {"ticket_id": ticket["_id"], "product": "p", "message_data": "still there?", "user_id": "u"}
    await fresh.ok("ticket_message_event", keyed(workspace, new_key, **said))
    await fresh.ok("create_ticket", keyed(workspace, new_key, user_id="v", product="p"))
    await fresh.inbox.wait_for("new_ticket")
    await fresh.inbox.wait_for("ticket_message_response", lambda m: m["operation"] == "send_message")
    await asyncio.sleep(0.2)
    assert old.inbox.of("new_ticket") == []
    assert [m["operation"] for m in old.inbox.of("ticket_message_response")] == ["get_ticket_messages"]
    assert key not in str(old.inbox.events) and new_key not in str(old.inbox.events)

    await admin.ok("delete_workspace", {"workspace_id": workspace["id"]})
    told = await fresh.inbox.wait_for("workspace_key_revoked", lambda m: m["reason"] == "deleted")
    assert told == {"workspace_id": workspace["id"], "reason": "deleted"}
    assert support_rooms(any_server, fresh) == []


async def test_wrong_pairs_are_all_invalid_api_key(server: RunningServer) -> None:
    admin = await admin_of(server)
    first, first_key = await new_workspace(admin, "First")
    second, second_key = await new_workspace(admin, "Second")
    anon = await server.client()
    for payload in (
        keyed(first, second_key),
        keyed(second, first_key),
        {"workspace_id": "000000000000000000000000", "api_key": first_key},
        keyed(first, first_key + "x"),
        keyed(first, first_key[:-1]),
    ):
        error = await anon.error("get_all_line_managers", payload, "unauthorized")
        assert error == {"code": "unauthorized", "message": "Invalid API key", "details": None}
    failures = [m for m in anon.inbox.of("setting_response") if m["status"] == "failure"]
    assert len(failures) == 5 and {m["data"] for m in failures} == {"Invalid API key"}
    for blank in (keyed(first, "   "), {"workspace_id": first["id"]}, {"workspace_id": first["id"], "api_key": 5}):
        await anon.error("get_all_line_managers", blank, "invalid_payload")
        assert anon.inbox.of("setting_response")[-1]["data"] == "Invalid Data"


async def test_update_settings_and_delete(server: RunningServer) -> None:
    admin = await admin_of(server)
    workspace, key = await new_workspace(admin)
    updated = await admin.ok(
        "update_workspace", {"workspace_id": workspace["id"], "products": ["app"], "auto_assign": False}
    )
    assert updated["products"] == ["app"] and updated["auto_assign"] is False and updated["name"] == "Acme"
    renamed = await admin.ok("update_workspace", {"workspace_id": workspace["id"], "name": "Acme Ltd"})
    assert renamed["name"] == "Acme Ltd" and renamed["products"] == ["app"]

    assert await admin.ok("delete_workspace", {"workspace_id": workspace["id"]}) == {
        "workspace_id": workspace["id"],
        "deleted": True,
    }
    await admin.error("get_workspace", {"workspace_id": workspace["id"]}, "not_found")
    await admin.error("delete_workspace", {"workspace_id": workspace["id"]}, "not_found")
    await admin.error("rotate_workspace_key", {"workspace_id": workspace["id"]}, "not_found")
    anon = await server.client()
    await anon.error("get_all_topics", keyed(workspace, key), "unauthorized")


async def test_list_pages_with_a_cursor(server: RunningServer) -> None:
    admin = await admin_of(server)
    made = [(await new_workspace(admin, f"W{i}"))[0]["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        page = await admin.ok("list_workspaces", {"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += [w["id"] for w in page["workspaces"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    await admin.error("list_workspaces", {"cursor": "garbage!"}, "invalid_payload")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.AGENT, Role.CLIENT])
async def test_only_admins_manage_workspaces(server: RunningServer, role: Role) -> None:
    admin = await admin_of(server)
    workspace, _ = await new_workspace(admin)
    user, _ = await signed_in(server, role)
    await user.error("create_workspace", {"name": "Mine"}, "forbidden")
    for event in ("rotate_workspace_key", "delete_workspace", "get_workspace"):
        await user.error(event, {"workspace_id": workspace["id"]}, "forbidden")
    await user.error("list_workspaces", {}, "forbidden")
    anon = await server.client()
    await anon.error("create_workspace", {"name": "Mine"}, "unauthorized")
    assert [w["id"] for w in (await admin.ok("list_workspaces", {}))["workspaces"]] == [workspace["id"]]


async def test_bad_payloads_write_nothing(server: RunningServer) -> None:
    admin = await admin_of(server)
    for bad in (
        {},
        {"name": ""},
        {"name": 5},
        {"name": "x", "products": "chat"},
        {"name": "x", "products": [""]},
        {"name": "x", "auto_assign": "yes"},
        {"name": "x", "surprise": 1},
        "name",
        None,
    ):
        await admin.error("create_workspace", bad, "invalid_payload")
    for bad in ({}, {"workspace_id": ""}, {"workspace_id": 7}, {"workspace_id": "x", "name": ""}):
        await admin.error("update_workspace", bad, "invalid_payload")
    assert (await admin.ok("list_workspaces", {}))["workspaces"] == []


async def test_api_keys_never_reach_the_logs(server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await admin_of(server)
    workspace, key = await new_workspace(admin)
    await admin.ok("rotate_workspace_key", {"workspace_id": workspace["id"]})
    anon = await server.client()
    await anon.error("create_topic", keyed(workspace, key, name="x"), "unauthorized")
    await anon.error("create_topic", keyed(workspace, key, name=""), "invalid_payload")
    assert caplog.records
    assert key not in caplog.text


async def test_a_removed_members_tickets_go_on_and_coming_back_starts_from_what_they_hold(
    any_server: RunningServer,
) -> None:
    d = await desk(any_server)  # auto_assign on: billing tickets go to billing_agent first (added first)
    ws = {"workspace_id": d.workspace["id"]}
    first, tech, second = [
        await d.client.ok("submit_ticket", ticket_payload(category, title))
        for category, title in ((d.billing, "B1"), (d.tech, "T"), (d.billing, "B2"))
    ]
    holders = [d.ids["billing_agent"], d.ids["any_agent"], d.ids["billing_agent"]]
    assert [t["assignee_id"] for t in (first, tech, second)] == holders
    await d.manager.ok("get_ticket", {"ticket_id": first["id"]})  # in ticket:<id> only

    moved = lambda u: u["change"] == "assignee"  # noqa: E731
    removed = await d.admin.ok("remove_workspace_member", {**ws, "user_id": d.ids["billing_agent"]})
    heir = d.ids["any_agent"]  # the least-loaded agent serving billing
    assert removed["tickets"] == [{"ticket_id": t["id"], "assignee_id": heir} for t in (first, second)]
    for t in (first, second):  # the new assignee's user:<id>; never the former one's, who may no longer see them
        push = await d.any_agent.inbox.wait_for(
            "ticket_updated", lambda u, t=t: moved(u) and u["ticket"]["id"] == t["id"]
        )
        assert push["ticket"]["assignee_id"] == heir
    await d.manager.inbox.wait_for("ticket_updated", lambda u: moved(u) and u["ticket"]["id"] == first["id"])
    assert not any(moved(u) for u in d.billing_agent.inbox.of("ticket_updated"))
    assert await d.any_agent.inbox.wait_for("notification", lambda n: n["kind"] == "ticket_assigned")
    assert await loads(d) == {d.ids["manager"]: 0, heir: 3}
    assert await load_drift(any_server, d.workspace["id"]) == {}

    back = await d.admin.ok(
        "add_workspace_member", {**ws, "user_id": d.ids["billing_agent"], "categories": [d.billing["id"]]}
    )
    assert back["load"] == 0 and await load_drift(any_server, d.workspace["id"]) == {}
    fresh = await d.client.ok("submit_ticket", ticket_payload(d.billing, "B3"))
    assert fresh["assignee_id"] == d.ids["billing_agent"]  # the least loaded again, as their load says
    assert await load_drift(any_server, d.workspace["id"]) == {}


async def test_deleting_a_workspace_unassigns_its_active_tickets_and_says_so(any_server: RunningServer) -> None:
    d = await desk(any_server)
    ticket = await d.client.ok("submit_ticket", ticket_payload(d.tech))
    assert ticket["assignee_id"] == d.ids["any_agent"]
    await d.admin.ok("delete_workspace", {"workspace_id": d.workspace["id"]})
    push = await d.client.inbox.wait_for("ticket_updated", lambda u: u["change"] == "assignee")
    assert push["ticket"]["id"] == ticket["id"] and push["ticket"]["assignee_id"] is None
    assert not any(u["change"] == "assignee" for u in d.any_agent.inbox.of("ticket_updated"))  # no longer staff
    kept = await d.client.ok("get_ticket", {"ticket_id": ticket["id"]})
    assert (kept["ticket"]["status"], kept["ticket"]["assignee_id"]) == ("open", None)
    await d.any_agent.error("get_ticket", {"ticket_id": ticket["id"]}, "not_found")
