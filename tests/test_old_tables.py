"""A new database holds only the one ticket store: the tables today's main wrote are read by the migrations only,
and no longer created (nor are they written by using every door)."""

from __future__ import annotations

from models.roles import Role
from tests.helpdesk_kit import signed_in
from tests.helpers import RunningServer
from tests.security.test_widget_token import opened, site_of

OLD = {
    "support_topics",
    "support_line_managers",
    "support_tickets",
    "support_messages",
    "hd_categories",
    "hd_tickets",
    "hd_messages",
}


async def names(server: RunningServer) -> set[str]:
    """Return the server's tables (SQLite) or collections (MongoDB)."""
    db = server.deps.db
    if db.kind == "mongo":
        return set(await db.db.list_collection_names())
    rows = await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row["name"] for row in rows}


async def test_a_new_database_has_none_of_the_old_ticket_tables(any_server: RunningServer) -> None:
    site = await site_of(any_server)  # a workspace, its line manager
    ws = site.workspace["id"]
    await site.agent.ok("create_topic", site.keyed(name="billing"))
    await site.agent.ok("create_ticket", site.keyed(user_id="cust", product="shop"))
    await opened(site, "hello")
    manager, info = await signed_in(any_server, Role.MANAGER)
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": info["user"]["id"]})
    category = await manager.ok("create_category", {"workspace_id": ws, "name": "Billing"})
    client, _ = await signed_in(any_server, Role.CLIENT)
    ticket = await client.ok("submit_ticket", {"category_id": category["id"], "title": "t", "body": "b"})
    await client.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "more"})

    present = await names(any_server)
    assert {"tickets", "ticket_messages", "categories", "workspace_members"} <= present
    assert present & OLD == set()
