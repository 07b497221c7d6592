"""Attacks on the agent console: it shows what the server lets its user see, and stops when that ends.

An agent of another workspace, and a member after their removal, watch their consoles while visitors write:
nothing of the workspace reaches them, and a ticket they still had on screen answers not found.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from models.roles import Role
from tests.console_kit import account, chromium, no_page_errors, open_console, sign_in
from tests.security.test_widget_token import opened, site_of


async def test_an_outsider_sees_nothing_and_a_removed_member_loses_the_workspace(server: Any) -> None:
    site = await site_of(server)
    ws = site.workspace["id"]
    other = (await site.admin.ok("create_workspace", {"name": "Elsewhere"}))["workspace"]
    _, ana = await account(server, Role.AGENT, "Ana")
    _, eve = await account(server, Role.AGENT, "Eve")
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": ana["user"]["id"]})
    await site.admin.ok("add_workspace_member", {"workspace_id": other["id"], "user_id": eve["user"]["id"]})
    witness, mia = await account(server, Role.MANAGER, "Mia")  # still a member: hears what the others would
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": mia["user"]["id"]})
    await witness.ok("subscribe_workspace", {"workspace_id": ws})

    async with chromium() as browser:
        member = await open_console(browser, server)
        outsider = await open_console(browser, server)
        await sign_in(member, ana["email"])
        await sign_in(outsider, eve["email"])

        await opened(site, "first visitor")
        await expect(member.locator(".ticket")).to_have_count(1)
        await member.locator(".ticket").click()
        await expect(member.locator("#messages .body")).to_have_text(["first visitor"])
        await outsider.reload()  # a full re-fetch too: still nothing
        await expect(outsider.locator("body")).to_have_attribute("data-ready", "true")
        await expect(outsider.locator(".ticket")).to_have_count(0)
        assert await outsider.evaluate("Desk.inbox.workspaces.map((w) => w.name)") == ["Elsewhere"]

        await site.admin.ok("remove_workspace_member", {"workspace_id": ws, "user_id": ana["user"]["id"]})
        visitor, answer = await opened(site, "second visitor")
        await visitor.ok("widget_send", {"ticket_id": answer["ticket"]["_id"], "message_data": "anyone?"})
        second = answer["ticket"]["_id"]
        await witness.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["id"] == second)
        await expect(member.locator(".ticket")).to_have_count(1)  # what the member's socket was sent by now: nothing
        assert await member.evaluate(f"Desk.inbox.tickets.has({second!r})") is False
        assert "second visitor" not in await member.content()
        await member.get_by_label("Reply").fill("still here?")
        await member.get_by_role("button", name="Send").click()
        await expect(member.locator("#notice")).to_contain_text("Not sent")
        await member.locator(".ticket").click()  # opening it again: not found, and it leaves the inbox
        await expect(member.locator(".ticket")).to_have_count(0)
        await expect(member.locator("#conversation")).to_be_hidden()
        await expect(outsider.locator(".ticket")).to_have_count(0)
        no_page_errors(member)
        no_page_errors(outsider)
