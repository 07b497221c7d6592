"""The agent console in a real browser: admin settings (widget token, members), pool fetch and sell, queue calls."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from models.roles import Role
from tests.console_kit import account, chromium, no_page_errors, open_console, screenshot, sign_in
from tests.helpers import refusal


async def test_an_admin_rotates_a_widget_token_creates_an_agent_and_adds_members_at_768_px(server: Any) -> None:
    admin, admin_info = await account(server, Role.ADMIN, "Ada")
    created = await admin.ok("create_workspace", {"name": "Shop", "products": ["shop"]})
    ws, old_token = created["workspace"]["id"], created["widget_token"]
    _, bob = await account(server, Role.AGENT, "Bob")
    visitor = await server.client(auth={"widget_token": old_token})

    async with chromium() as browser:
        page = await open_console(browser, server, width=768, height=1000)
        await sign_in(page, admin_info["email"])
        await page.get_by_role("tab", name="Settings").click()
        await page.get_by_role("button", name="Shop", exact=True).click()
        await expect(page.locator("#ws-token")).to_have_text(old_token)

        await page.get_by_role("button", name="Rotate widget token").click()
        await expect(page.locator("#ws-token")).not_to_have_text(old_token)
        new_token = await page.locator("#ws-token").text_content()
        assert new_token == (await admin.ok("get_widget_settings", {"workspace_id": ws}))["widget_token"]
        assert new_token and new_token.startswith("wt_")
        assert await visitor.inbox.wait_for("widget_token_revoked") == {"workspace_id": ws, "reason": "rotated"}
        assert (await refusal(server.url, {"widget_token": old_token}))["data"]["code"] == "unauthorized"

        await page.get_by_label("Add member").select_option(label=f"Bob <{bob['email']}> (agent)")
        await page.get_by_role("button", name="Add", exact=True).click()
        await expect(page.locator("#ws-members")).to_contain_text(f"Bob <{bob['email']}> · agent")
        members = await admin.ok("list_workspace_members", {"workspace_id": ws})
        assert [m["user_id"] for m in members] == [bob["user"]["id"]]

        await page.get_by_label("Account name").fill("Cid")
        await page.get_by_label("Account email").fill("cid@example.com")
        await page.get_by_label("First password (at least 10 characters)").fill("password12")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.locator("#notice")).to_contain_text("Account not created")
        await page.get_by_label("First password (at least 10 characters)").fill("plum river quartz 91")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.locator("#notice")).to_have_text("Account created for Cid (agent).")
        await page.get_by_label("Add member").select_option(label="Cid <cid@example.com> (agent)")
        await page.get_by_role("button", name="Add", exact=True).click()
        await expect(page.locator("#ws-members")).to_contain_text("Cid <cid@example.com> · agent")
        cid = await server.client()
        signed = await cid.ok("login", {"email": "cid@example.com", "password": "plum river quartz 91"})
        assert signed["user"]["role"] == "agent"
        assert [m["workspace"]["id"] for m in await cid.ok("list_my_workspaces")] == [ws]

        await page.get_by_label("New category").fill("Billing <b>")
        await page.get_by_role("button", name="Add category").click()
        await expect(page.locator("#ws-categories")).to_contain_text("Billing <b>")
        assert [c["name"] for c in await admin.ok("list_categories", {"workspace_id": ws})] == ["Billing <b>"]
        await screenshot(page, "settings")
        no_page_errors(page)


async def test_an_agent_fetches_and_sells_pool_tickets_and_calls_the_next_number(server: Any) -> None:
    admin, _ = await account(server, Role.ADMIN, "Ada")
    manager, _ = await account(server, Role.MANAGER, "Mia")
    _, ana = await account(server, Role.AGENT, "Ana")
    client, _ = await account(server, Role.CLIENT, "Carl")
    titles = ["Renew plan", "Upgrade seats", "Add-on"]
    await admin.ok("create_pool_tickets", {"tickets": [{"title": t} for t in titles]})
    office = await manager.ok("create_office", {"name": "Main St", "windows": 2})
    ref = office["ref_office"]
    await manager.ok("assign_agent", {"office_id": ref, "number_window": 2, "agent_id": ana["user"]["id"]})
    taken = await client.ok("take_number", {"ref_office": ref})
    assert taken["number"] == 1

    async with chromium() as browser:
        page = await open_console(browser, server)
        await sign_in(page, ana["email"])
        await page.get_by_role("tab", name="Pool").click()
        await page.get_by_role("button", name="Fetch tickets").click()
        await expect(page.locator("#pool-summary")).to_have_text("Fetched 3 new ticket(s); you hold 3.")
        await page.get_by_label("Add-on (normal)").uncheck()
        await page.get_by_label("Customer name").fill("Dana")
        await page.get_by_label("Customer email").fill("Dana@Example.com")
        await page.get_by_role("button", name="Sell selected").click()
        await expect(page.locator("#pool-summary")).to_have_text("Sold 2 ticket(s) to Dana.")
        await expect(page.locator("#pool-tickets li")).to_have_text(["Add-on (normal)"])
        await screenshot(page, "pool")
        listed = (await admin.ok("list_pool_tickets", {}))["tickets"]
        assert [(t["title"], t["status"], t["customer"]) for t in listed] == [
            ("Renew plan", "sold", {"name": "Dana", "email": "dana@example.com"}),
            ("Upgrade seats", "sold", {"name": "Dana", "email": "dana@example.com"}),
            ("Add-on", "assigned", None),
        ]

        await page.get_by_role("tab", name="Queue").click()
        card = page.get_by_role("listitem", name=f"Main St ({ref}), window 2")
        await expect(card.locator(".serving")).to_have_text("Now serving: —")
        await card.get_by_role("button", name="Call next number").click()
        await expect(card.locator(".serving")).to_have_text("Now serving: 1")
        turn = await client.inbox.wait_for("your_turn")
        assert (turn["ref_office"], turn["number"], turn["number_window"]) == (ref, 1, 2)
        assert (await client.ok("my_position", {"ref_office": ref}))["status"] == "called"
        await screenshot(page, "queue")

        await page.get_by_role("button", name="Available").click()
        await expect(page.get_by_role("button", name="Away")).to_have_attribute("aria-pressed", "false")
        statuses = await admin.ok("get_presence", {"user_ids": [ana["user"]["id"]]})
        assert statuses["statuses"] == {ana["user"]["id"]: "away"}
        no_page_errors(page)
