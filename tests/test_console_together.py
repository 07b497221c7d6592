"""The console's server-backed views in a real browser: a manager's live stats, an agent's profile seen by a widget
visitor, and an agent's attachment on a widget ticket downloaded by the visitor."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from playwright.async_api import Page, expect

from models.roles import Role
from tests.console_kit import account, chromium, no_page_errors, open_console, screenshot, sign_in
from tests.helpdesk_kit import admin_of
from tests.helpers import RunningServer
from tests.security.test_widget_token import opened, site_of, widget_headers
from tests.test_attachments import download


def tiny_png() -> bytes:
    """A valid 1x1 PNG, so the browser really draws the picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def figure(page: Page, name: str) -> Any:
    """The summary figure ``name`` of the stats panel."""
    return page.locator(f"#stats dl.pairs > dt:text-is('{name}') + dd").first


async def test_a_manager_sees_stats_of_real_tickets_and_their_live_update(start_server: Any) -> None:
    server: RunningServer = await start_server("sqlite", helpdesk_stats_debounce_seconds=0.3)
    admin = await admin_of(server)
    workspace = (await admin.ok("create_workspace", {"name": "Shop"}))["workspace"]
    ws = workspace["id"]
    manager, mona = await account(server, Role.MANAGER, "Mona")
    agent, ana = await account(server, Role.AGENT, "Ana")
    for who in (mona, ana):
        await admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": who["user"]["id"]})
    category = await manager.ok("create_category", {"workspace_id": ws, "name": "Orders"})
    client, _ = await account(server, Role.CLIENT, "Carla")

    # a ticket created, answered by Ana and closed during the test
    first = await client.ok("submit_ticket", {"category_id": category["id"], "title": "Late", "body": "Where?"})
    assert first["assignee_id"] == ana["user"]["id"]
    await agent.ok("send_ticket_message", {"ticket_id": first["id"], "body": "On its way."})
    await manager.ok("set_ticket_status", {"ticket_id": first["id"], "status": "resolved"})
    await client.ok("set_ticket_status", {"ticket_id": first["id"], "status": "closed"})

    async with chromium() as browser:
        page = await open_console(browser, server)
        await sign_in(page, mona["email"])
        await page.get_by_role("tab", name="Stats").click()
        await expect(figure(page, "opened")).to_have_text("1")
        await expect(figure(page, "closed")).to_have_text("1")
        await expect(figure(page, "backlog")).to_have_text("none")
        await expect(figure(page, "first response")).to_contain_text("(1)")
        await expect(figure(page, "resolution")).to_contain_text("(1)")
        row = page.locator("#stats table.agents tbody tr", has_text="Ana")
        cells = row.locator("td")
        for column, expected in enumerate(["1", "0", "1"]):  # opened, resolved (now closed), closed
            await expect(cells.nth(column)).to_have_text(expected)
        await expect(cells.nth(3)).to_contain_text("(1)")  # one first response timed
        await screenshot(page, "stats")

        # another ticket event: the panel reads the figures again by itself
        await client.ok("submit_ticket", {"category_id": category["id"], "title": "Again", "body": "Hello?"})
        await expect(figure(page, "opened")).to_have_text("2")
        await expect(figure(page, "backlog")).to_have_text("open: 1")
        await expect(row.locator("td").first).to_have_text("2")

        # the agent renames themselves: the manager's open conversation names them anew, live
        await page.get_by_role("tab", name="Inbox").click()
        await page.locator(".ticket", has_text="Again").click()
        await expect(page.locator("#conv-meta")).to_contain_text("assignee Ana")
        await agent.ok("update_profile", {"name": "Ana Lima"})
        await expect(page.locator("#conv-meta")).to_contain_text("assignee Ana Lima")
        no_page_errors(page)


async def test_an_agents_profile_and_attachment_reach_the_widget_visitor(server: RunningServer) -> None:
    site = await site_of(server)  # a workspace embedding the widget
    ws = site.workspace["id"]
    _, ana = await account(server, Role.AGENT, "Ana")
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": ana["user"]["id"]})
    picture = tiny_png()

    async with chromium() as browser:
        page = await open_console(browser, server)
        await sign_in(page, ana["email"])
        await expect(page.locator("#who")).to_have_text("Ana (agent)")

        # the agent edits their profile, with a picture uploaded through POST /api/attachments
        await page.get_by_role("tab", name="Profile").click()
        await page.get_by_label("Name", exact=True).fill("Ana Lima")
        await page.get_by_label("City", exact=True).fill("Porto")
        await page.get_by_label("Region", exact=True).fill("Norte")
        await page.set_input_files(
            "#profile-file", files=[{"name": "me.png", "mimeType": "image/png", "buffer": picture}]
        )
        await page.get_by_role("button", name="Save profile").click()
        await expect(page.locator("#who")).to_have_text("Ana Lima (agent)")
        await expect(page.locator("#profile-picture")).to_be_visible()
        await page.wait_for_function("document.getElementById('profile-picture').naturalWidth === 1")
        shown = await page.locator("#profile-picture").bounding_box()
        assert shown and shown["width"] >= 64  # drawn as an avatar, not at the image's own 1 px
        stored = await site.admin.ok("get_profile", {"user_id": ana["user"]["id"]})
        assert (stored["name"], stored["city"], stored["region"]) == ("Ana Lima", "Porto", "Norte")
        await screenshot(page, "profile")

        # a reload reads the profile back from the server
        await page.reload()
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        await expect(page.locator("#who")).to_have_text("Ana Lima (agent)")

        # a widget visitor writes; the agent answers with a file (the attach button works on widget tickets)
        visitor, answer = await opened(site, "Can I get the manual?")
        ticket_id = answer["ticket"]["_id"]
        await page.locator(".ticket", has_text="Widget visitor · shop").click()
        await expect(page.locator("#messages .message.theirs .body")).to_have_text(["Can I get the manual?"])
        await expect(page.locator("#reply-file")).to_be_enabled()
        await page.get_by_label("Reply").fill("Here it is.")
        manual = {"name": "manual.txt", "mimeType": "text/plain", "buffer": b"MANUAL v2\n"}
        await page.set_input_files("#reply-file", files=[manual])
        await page.get_by_role("button", name="Send").click()
        got = await visitor.inbox.wait_for("widget_message", lambda m: m["message_data"] == "Here it is.")
        assert got["ticket_id"] == ticket_id and got["author"] == ana["user"]["id"]
        assert got["author_name"] == "Ana Lima" and got["author_picture"] == stored["picture_url"]
        [attachment] = got["attachments"]
        await expect(page.locator("#messages .message.mine .attachment")).to_have_text(["Attachment 1"])

        # the visitor, with their widget credentials only, downloads the file and the agent's picture
        mine = widget_headers(site, answer["visitor_secret"])
        assert (await download(server, attachment, mine))[:2] == (200, b"MANUAL v2\n")
        assert (await download(server, stored["picture_attachment_id"], mine))[:2] == (200, picture)
        key_holder = {"X-Workspace-Id": ws, "X-Api-Key": site.key}  # the Dowell back office gets it too
        assert (await download(server, attachment, key_holder))[:2] == (200, b"MANUAL v2\n")
        # another visitor of the same site gets neither the file nor the conversation
        _, other = await opened(site, "me too")
        status, _, _ = await download(server, attachment, widget_headers(site, other["visitor_secret"]))
        assert status in (403, 404)
        no_page_errors(page)
