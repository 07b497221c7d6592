"""``reassign_ticket`` on widget and Dowell tickets: the ticket and 1 of ``ticket_count`` move together, to a staff
member or a line manager of its workspace; both sides see the change; outsiders cannot do it."""

from __future__ import annotations

from typing import Any

from models.roles import Role
from tests.helpdesk_kit import signed_in
from tests.helpers import Client, RunningServer
from tests.security.test_widget_token import Site, opened, site_of


async def member(site: Site, role: Role, **fields: Any) -> tuple[Client, str]:
    """Return a socket of a new staff account made a member of the site's workspace, and its user id."""
    client, info = await signed_in(site.server, role)
    user_id = info["user"]["id"]
    await site.admin.ok("add_workspace_member", {"workspace_id": site.workspace["id"], "user_id": user_id, **fields})
    return client, user_id


async def counts(site: Site) -> dict[str, int]:
    """The Dowell line's ``ticket_count`` of each line manager."""
    return {m["user_id"]: m["ticket_count"] for m in await site.agent.ok("get_all_line_managers", site.keyed())}


async def test_a_widget_ticket_moves_to_a_member_and_back_to_a_line_manager(any_server: RunningServer) -> None:
    site = await site_of(any_server)  # line manager lm-ana, no account
    ws = site.workspace["id"]
    manager, _ = await member(site, Role.MANAGER)
    category = await manager.ok("create_category", {"workspace_id": ws, "name": "Billing"})
    agent, agent_id = await member(site, Role.AGENT, categories=[category["id"]])  # sees no uncategorised ticket
    await site.agent.ok(
        "create_line_manager", site.keyed(user_id="lm-bo", positions_in_a_line=2, average_serving_time=1)
    )
    visitor, answer = await opened(site, "where is my parcel?")
    ticket_id = answer["ticket"]["_id"]
    assert answer["ticket"]["line_manager"] == "lm-ana" and await counts(site) == {"lm-ana": 1, "lm-bo": 0}
    await agent.error("get_ticket", {"ticket_id": ticket_id}, "not_found")

    moved = await manager.ok("reassign_ticket", {"ticket_id": ticket_id, "assignee_id": agent_id})
    assert (moved["assignee_id"], moved["door"], moved["status"]) == (agent_id, "widget", "open")
    told = await agent.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["id"] == ticket_id)
    assert told == {"ticket": moved, "change": "assignee"}
    assert await counts(site) == {"lm-ana": 0, "lm-bo": 0}  # the agent's count is on their member record
    view = await agent.ok("get_ticket", {"ticket_id": ticket_id})  # theirs now, whatever their categories
    assert view["ticket"]["assignee_id"] == agent_id
    listed = await site.agent.ok("get_tickets", site.keyed(product="shop"))
    assert [(t["_id"], t["line_manager"]) for t in listed] == [(ticket_id, agent_id)]  # the Dowell side sees it
    reply = await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "on its way"})
    live = await visitor.inbox.wait_for("widget_message", lambda m: m["_id"] == reply["id"])
    assert live["author"] == agent_id

    back = await manager.ok("reassign_ticket", {"ticket_id": ticket_id, "assignee_id": "lm-bo"})
    assert back["assignee_id"] == "lm-bo" and await counts(site) == {"lm-ana": 0, "lm-bo": 1}
    await agent.error("get_ticket", {"ticket_id": ticket_id}, "not_found")  # lost with the assignment
    assert (await manager.ok("reassign_ticket", {"ticket_id": ticket_id, "assignee_id": "lm-bo"})) == back  # no-op
    await site.agent.ok("close_ticket", site.keyed(ticket_id=ticket_id, product="shop"))
    assert await counts(site) == {"lm-ana": 0, "lm-bo": 0}
    closed = {"ticket_id": ticket_id, "assignee_id": "lm-ana"}
    await manager.error("reassign_ticket", closed, "conflict")


async def test_a_dowell_ticket_is_reassigned_only_inside_its_workspace_by_its_staff(any_server: RunningServer) -> None:
    site = await site_of(any_server)
    other = await site_of(any_server)  # another workspace with its own line manager lm-ana and staff
    manager, _ = await member(site, Role.MANAGER)
    their_manager, their_manager_id = await member(other, Role.MANAGER)
    ticket = await site.agent.ok("create_ticket", site.keyed(user_id="cust", product="shop"))
    move = {"ticket_id": ticket["_id"]}

    await their_manager.error("reassign_ticket", {**move, "assignee_id": their_manager_id}, "not_found")
    await manager.error("reassign_ticket", {**move, "assignee_id": their_manager_id}, "invalid_payload")
    await manager.error("reassign_ticket", {**move, "assignee_id": "lm-nobody"}, "invalid_payload")
    client, _ = await signed_in(any_server, Role.CLIENT)
    await client.error("reassign_ticket", {**move, "assignee_id": "lm-ana"}, "forbidden")
    anonymous = await any_server.client()
    await anonymous.error("reassign_ticket", {**move, "assignee_id": "lm-ana"}, "unauthorized")
    assert await counts(site) == {"lm-ana": 1} and await counts(other) == {"lm-ana": 0}
    listed = await site.agent.ok("get_tickets", site.keyed(product="shop"))
    assert [t["line_manager"] for t in listed] == ["lm-ana"]
