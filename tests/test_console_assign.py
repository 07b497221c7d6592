"""Assigning from the agent console: a manager transfers a ticket to a colleague, an agent takes one."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from models.roles import Role
from tests.console_kit import account, chromium, no_page_errors, open_console, sign_in


async def test_a_manager_transfers_a_ticket_and_an_agent_takes_an_unassigned_one(server: Any) -> None:
    admin, _ = await account(server, Role.ADMIN, "Ada")
    ws = (await admin.ok("create_workspace", {"name": "Acme", "auto_assign": False}))["workspace"]["id"]
    category = await admin.ok("create_category", {"workspace_id": ws, "name": "Refunds"})
    _, mia = await account(server, Role.MANAGER, "Mia")
    _, ana = await account(server, Role.AGENT, "Ana")
    bob_socket, bob = await account(server, Role.AGENT, "Bob")
    for who in (mia, ana, bob):
        await admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": who["user"]["id"]})
    client, _ = await account(server, Role.CLIENT, "Carla")
    first = await client.ok("submit_ticket", {"category_id": category["id"], "title": "Refund A", "body": "a"})
    second = await client.ok("submit_ticket", {"category_id": category["id"], "title": "Refund B", "body": "b"})
    assert first["assignee_id"] is None and second["assignee_id"] is None

    async with chromium() as browser:
        manager = await open_console(browser, server)
        await sign_in(manager, mia["email"])
        await manager.locator(".ticket", has_text="Refund A").click()
        await expect(manager.locator("#conv-meta")).to_contain_text("assignee nobody")
        await manager.get_by_label("Assignee").select_option(value=bob["user"]["id"])
        await client.ok("typing", {"ticket_id": first["id"], "typing": True})  # a push redraws the conversation
        await expect(manager.locator("#typing")).to_have_text("Carla is typing…")
        await expect(manager.get_by_label("Assignee")).to_have_value(bob["user"]["id"])  # the choice survives it
        await manager.get_by_role("button", name="Assign").click()
        told = await bob_socket.inbox.wait_for(
            "ticket_updated", lambda u: u["ticket"]["id"] == first["id"] and u["change"] == "assignee"
        )
        assert told["ticket"]["assignee_id"] == bob["user"]["id"]
        await expect(manager.locator("#notice")).to_have_text("Ticket assigned.")

        agent = await open_console(browser, server)
        await sign_in(agent, ana["email"])
        await agent.locator(".ticket", has_text="Refund B").click()
        await expect(agent.get_by_label("Assignee").locator("option")).to_have_text(["You"])
        await agent.get_by_role("button", name="Assign").click()
        await expect(agent.locator("#conv-meta")).to_contain_text("assignee You")
        update = await client.inbox.wait_for(
            "ticket_updated", lambda u: u["ticket"]["id"] == second["id"] and u["change"] == "assignee"
        )
        assert update["ticket"]["assignee_id"] == ana["user"]["id"]
        no_page_errors(manager)
        no_page_errors(agent)
