"""The agent console's session in a real browser: wrong passwords, an expired access token, a reconnect."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from models.roles import Role
from tests.console_kit import account, chromium, no_page_errors, open_console, sign_in
from tests.helpers import ManualClock


async def test_the_console_refreshes_an_expired_token_and_signs_in_again_after_a_reconnect(start_server: Any) -> None:
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock)
    admin, _ = await account(server, Role.ADMIN, "Ada")
    workspace = (await admin.ok("create_workspace", {"name": "Acme"}))["workspace"]
    category = await admin.ok("create_category", {"workspace_id": workspace["id"], "name": "Orders"})
    _, ana = await account(server, Role.AGENT, "Ana")
    await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": ana["user"]["id"]})

    async with chromium() as browser:
        page = await open_console(browser, server)
        await page.get_by_label("Email", exact=True).fill(ana["email"])
        await page.get_by_label("Password", exact=True).fill("not the password at all")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
        await sign_in(page, ana["email"])
        first_access = await page.evaluate("Desk.state.access")
        first_refresh = await page.evaluate("sessionStorage.getItem('deskline.console.refresh')")
        assert first_access and first_refresh and first_refresh not in await page.content()

        # the server's clock passes the token's 15 minutes: the next action refreshes it and goes through
        clock.advance(minutes=16)
        await page.get_by_role("button", name="Available").click()
        await expect(page.get_by_role("button", name="Away")).to_be_visible()
        watcher, _ = await account(server, Role.ADMIN, "Otto")  # a token of the clock's new time
        assert (await watcher.ok("get_presence", {"user_ids": [ana["user"]["id"]]}))["statuses"] == {
            ana["user"]["id"]: "away"
        }
        assert await page.evaluate("Desk.state.access") != first_access
        assert await page.evaluate("sessionStorage.getItem('deskline.console.refresh')") != first_refresh

        # a reconnect without a fresh access token signs the new socket in with the refresh token, then
        # subscribes again: a ticket submitted afterwards arrives live
        clock.advance(minutes=16)
        await page.evaluate("Desk.state.expiresAt = 0; Desk.state.socket.disconnect(); Desk.state.socket.connect()")
        await expect(page.locator("#connection")).to_have_text("Connected")
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        client, _ = await account(server, Role.CLIENT, "Cleo")
        await client.ok("submit_ticket", {"category_id": category["id"], "title": "Late parcel", "body": "Hi"})
        await expect(page.locator(".ticket", has_text="Late parcel")).to_have_count(1)
        await expect(page.locator("#who")).to_have_text("Ana (agent)")
        no_page_errors(page)
