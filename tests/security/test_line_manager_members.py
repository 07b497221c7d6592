"""Attacks on "line managers are members": a Dowell line manager record grants nothing on the signed-in door
unless its user is an active staff member of the workspace, and then only that membership's rights."""

from __future__ import annotations

from typing import Any

from models.roles import Role
from tests.helpdesk_kit import signed_in
from tests.helpers import Client, RunningServer
from tests.security.test_widget_token import Site, site_of


async def line_manager(site: Site, user_id: str, position: int = 0) -> dict[str, Any]:
    """Add a line manager through the Dowell door (the key holder chooses the user id freely)."""
    fields = {"user_id": user_id, "positions_in_a_line": position, "average_serving_time": 1, "ticket_count": 0}
    return dict(await site.agent.ok("create_line_manager", site.keyed(**fields)))


async def shut_out(who: Client, site: Site, ticket_id: str) -> None:
    """Assert the caller reaches nothing of the site's workspace on the signed-in door."""
    ws = site.workspace["id"]
    assert (await who.ok("list_tickets", {}))["tickets"] == []
    assert (await who.ok("list_tickets", {"workspace_id": ws}))["tickets"] == []
    await who.error("get_ticket", {"ticket_id": ticket_id}, "not_found")
    await who.error("send_ticket_message", {"ticket_id": ticket_id, "body": "hi"}, "not_found")
    await who.error("set_ticket_status", {"ticket_id": ticket_id, "status": "closed"}, "not_found")
    await who.error("subscribe_workspace", {"workspace_id": ws}, "forbidden")
    await who.error("list_workspace_members", {"workspace_id": ws}, "forbidden")


async def test_a_key_holder_naming_an_agent_account_as_line_manager_gives_it_nothing(
    any_server: RunningServer,
) -> None:
    site = await site_of(any_server)  # its line manager lm-ana (position 1) is no account
    outsider, info = await signed_in(any_server, Role.AGENT)  # an agent of no workspace
    await line_manager(site, info["user"]["id"], position=0)  # first in the line: gets the next ticket
    ticket = await site.agent.ok("create_ticket", site.keyed(user_id="cust", product="shop"))
    assert ticket["line_manager"] == info["user"]["id"]
    await shut_out(outsider, site, ticket["_id"])
    members = await site.admin.ok("list_workspace_members", {"workspace_id": site.workspace["id"]})
    assert members == []  # neither lm-ana nor the named account is a member


async def test_a_non_account_line_manager_cannot_be_given_signed_in_tickets(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    ws = site.workspace["id"]
    manager, info = await signed_in(any_server, Role.MANAGER)
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": info["user"]["id"]})
    category = await manager.ok("create_category", {"workspace_id": ws, "name": "Billing"})
    client, _ = await signed_in(any_server, Role.CLIENT)
    ticket = await client.ok("submit_ticket", {"category_id": category["id"], "title": "t", "body": "b"})
    refused = await manager.error(
        "reassign_ticket", {"ticket_id": ticket["id"], "assignee_id": "lm-ana"}, "invalid_payload"
    )
    assert refused["details"][0]["type"] == "not_member"
    add = {"workspace_id": ws, "user_id": "lm-ana"}
    await site.admin.error("add_workspace_member", add, "invalid_payload")  # not an account: never staff


async def test_a_deactivated_line_manager_account_keeps_its_line_but_loses_the_workspace(
    any_server: RunningServer,
) -> None:
    site = await site_of(any_server)
    ws = site.workspace["id"]
    agent, info = await signed_in(any_server, Role.AGENT)
    user_id = info["user"]["id"]
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": user_id})
    await line_manager(site, user_id, position=0)
    ticket = await site.agent.ok("create_ticket", site.keyed(user_id="cust", product="shop"))
    assert ticket["line_manager"] == user_id
    seen = await agent.ok("get_ticket", {"ticket_id": ticket["_id"]})  # while staff: theirs, as a member
    assert seen["ticket"]["assignee_id"] == user_id

    await site.admin.ok("deactivate_user", {"user_id": user_id})
    assert await site.admin.ok("list_workspace_members", {"workspace_id": ws}) == []
    line = await site.agent.ok("get_all_line_managers", site.keyed())
    assert {m["user_id"]: m["ticket_count"] for m in line} == {user_id: 1, "lm-ana": 0}

    await site.admin.ok("update_user", {"user_id": user_id, "active": True})  # back, but no membership with it
    user = await any_server.deps.accounts.store.get_user(user_id)
    pair = await any_server.deps.accounts.issue(user, any_server.clock())
    again = await any_server.client(token=pair.access_token)
    await shut_out(again, site, ticket["_id"])
