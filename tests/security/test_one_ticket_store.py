"""Attacks on the one ticket store: its status and assignee changes no longer filter by door or workspace, so the
Dowell and widget doors must find a ticket through their own read (a line-door ticket of their workspace) first.

The workspace's own back-office key, a visitor of its widget and another workspace's key name a signed-in ticket
(or another workspace's ticket) by id, and reach nothing of it.
"""

from __future__ import annotations

from typing import Any

from models.roles import Role
from tests.helpdesk_kit import signed_in
from tests.helpers import Client
from tests.security.test_widget_token import Site, opened, site_of


async def signed_in_ticket(site: Site) -> tuple[Client, dict[str, Any]]:
    """A client files a signed-in ticket in the site's workspace; return its manager's socket and the ticket."""
    ws = site.workspace["id"]
    manager, info = await signed_in(site.server, Role.MANAGER)
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": info["user"]["id"]})
    category = await manager.ok("create_category", {"workspace_id": ws, "name": "Billing"})
    client, _ = await signed_in(site.server, Role.CLIENT)
    ticket = await client.ok("submit_ticket", {"category_id": category["id"], "title": "t", "body": "private"})
    return manager, ticket


async def test_the_dowell_and_widget_doors_reach_no_signed_in_ticket_of_their_own_workspace(any_server) -> None:  # type: ignore[no-untyped-def]
    site = await site_of(any_server)
    manager, ticket = await signed_in_ticket(site)
    ref = {"ticket_id": ticket["id"]}  # no product: only the door's own read can refuse it

    # the workspace's own key: close needs a product, so it is tried with the reads that take none
    for event, payload in [
        ("reopen_ticket", site.keyed(**ref)),
        ("waiting_time_response", site.keyed(**ref)),
        ("get_ticket_messages", site.keyed(**ref)),
        ("get_unread_count", site.keyed(**ref, user_id="lm-ana")),
    ]:
        await site.agent.error(event, payload, "not_found")

    # a visitor of the workspace's widget
    visitor, _ = await opened(site, "hello")
    for event, payload in [
        ("widget_messages", ref),
        ("widget_send", {**ref, "message_data": "phish"}),
        ("widget_waiting_time", ref),
    ]:
        await visitor.error(event, payload, "not_found")

    # the signed-in ticket is untouched: still open, nothing written into it
    seen = await manager.ok("get_ticket", ref)
    assert seen["ticket"]["status"] == "open" and seen["ticket"]["door"] == "signed_in"
    assert [m["body"] for m in seen["messages"]] == []


async def test_another_workspaces_key_cannot_reopen_or_queue_up_on_this_ones_ticket(any_server) -> None:  # type: ignore[no-untyped-def]
    a, b = await site_of(any_server), await site_of(any_server)
    _, answer = await opened(a, "A's question")
    ticket = answer["ticket"]
    await a.agent.ok("close_ticket", a.keyed(ticket_id=ticket["_id"], product="shop"))
    ref = {"ticket_id": ticket["_id"]}
    for event in ("reopen_ticket", "waiting_time_response", "get_ticket_messages"):
        await b.agent.error(event, b.keyed(**ref), "not_found")
    mine = await a.agent.ok("get_tickets", a.keyed(product="shop"))
    assert [(t["_id"], t["is_closed"]) for t in mine] == [(ticket["_id"], True)]  # still closed: B reopened nothing
    managers = await a.agent.ok("get_all_line_managers", a.keyed())
    assert [m["ticket_count"] for m in managers] == [0]  # and counted nothing
