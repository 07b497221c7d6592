"""The agent console in a real browser: an agent answers a widget visitor and a signed-in client live."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from models.roles import Role
from tests.console_kit import account, chromium, no_page_errors, open_console, screenshot, sign_in
from tests.security.test_widget_token import opened, site_of
from tests.test_attachments import download

HOSTILE = '<img src=x onerror="window.pwned=1">my order never arrived'


async def test_an_agent_answers_a_widget_visitor_and_a_client_live_from_the_console(server: Any) -> None:
    site = await site_of(server)  # a workspace with a line manager; the widget token is public
    ws = site.workspace["id"]
    category = await site.admin.ok("create_category", {"workspace_id": ws, "name": "Orders"})
    _, ana = await account(server, Role.AGENT, "Ana")
    await site.admin.ok("add_workspace_member", {"workspace_id": ws, "user_id": ana["user"]["id"]})
    client, client_info = await account(server, Role.CLIENT, "Carla")

    async with chromium() as browser:
        page = await open_console(browser, server)
        await sign_in(page, ana["email"])
        await expect(page.locator("#tickets-empty")).to_be_visible()

        # a widget visitor opens a conversation: it appears live, unread, its text shown as text
        visitor, answer = await opened(site, HOSTILE)
        widget_ticket = page.locator(".ticket", has_text="Widget visitor · shop")
        await expect(widget_ticket).to_be_visible()
        await expect(widget_ticket.locator(".badge")).to_have_text("1")
        await expect(page.locator(".filters [data-status=open] .count")).to_have_text("1 · 1 unread")
        await screenshot(page, "inbox")
        await widget_ticket.click()
        await expect(page.locator("#messages .message.theirs .body")).to_have_text([HOSTILE])
        assert await page.evaluate("window.pwned") is None
        assert await page.locator("#messages img").count() == 0
        await expect(widget_ticket.locator(".badge")).to_have_count(0)

        # the agent answers: the visitor's widget gets it
        await page.get_by_label("Reply").fill("Resending it today.")
        await page.get_by_role("button", name="Send").click()
        got = await visitor.inbox.wait_for("widget_message", lambda m: m["message_data"] == "Resending it today.")
        assert got["author"] == ana["user"]["id"] and got["ticket_id"] == answer["ticket"]["_id"]
        await expect(page.locator("#messages .message.mine .body")).to_have_text(["Resending it today."])
        await visitor.ok("widget_send", {"ticket_id": answer["ticket"]["_id"], "message_data": "thanks!"})
        await expect(page.locator("#messages .message.theirs .body")).to_have_text([HOSTILE, "thanks!"])

        # close, then reopen, the widget ticket
        await page.get_by_role("button", name="Close", exact=True).click()
        assert await visitor.inbox.wait_for("widget_ticket_closed") == {"ticket_id": answer["ticket"]["_id"]}
        await expect(page.locator("#conv-meta")).to_contain_text("closed")
        await expect(page.get_by_label("Reply")).to_be_disabled()
        await page.get_by_role("button", name="Reopen", exact=True).click()
        await expect(page.locator("#conv-meta")).to_contain_text("open")
        reopened = await site.agent.ok("get_tickets", site.keyed(product="shop"))
        assert [t["is_closed"] for t in reopened] == [False]

        # a signed-in client's ticket (widgets have no typing event on main: the client side types)
        submitted = {"category_id": category["id"], "title": "Invoice missing", "body": "Where is it?"}
        ticket = await client.ok("submit_ticket", submitted)
        assert ticket["assignee_id"] == ana["user"]["id"]
        await page.locator(".ticket", has_text="Invoice missing").click()
        await expect(page.locator("#conv-title")).to_have_text("Invoice missing")
        await expect(page.locator("#messages .opening .body")).to_have_text("Where is it?")
        await client.ok("typing", {"ticket_id": ticket["id"], "typing": True})
        await expect(page.locator("#typing")).to_have_text("Carla is typing…")
        await client.ok("typing", {"ticket_id": ticket["id"], "typing": False})
        await expect(page.locator("#typing")).to_have_text("")
        await expect(page.locator("#conv-meta")).to_contain_text("Carla: online")

        # the agent attaches a file; the client receives the message and downloads the same bytes
        await page.get_by_label("Reply").fill("Here is your invoice.")
        payload = {"name": "invoice.txt", "mimeType": "text/plain", "buffer": b"INVOICE 42\n"}
        await page.set_input_files("#reply-file", files=[payload])
        await page.get_by_role("button", name="Send").click()
        said = await client.inbox.wait_for("ticket_message", lambda m: m["message"]["body"] == "Here is your invoice.")
        [attachment] = said["message"]["attachments"]
        bearer = {"Authorization": f"Bearer {client_info['access_token']}"}
        status, body, _ = await download(server, attachment, bearer)
        assert (status, body) == (200, b"INVOICE 42\n")
        await expect(page.locator("#messages .message.mine .attachment")).to_have_text(["Attachment 1"])

        # read receipt: the client reads the answer, the agent sees "Seen"
        await client.ok("mark_read", {"ticket_id": ticket["id"], "message_id": said["message"]["id"]})
        await expect(page.locator("#messages .message.mine .seen")).to_have_text(["Seen"])
        await screenshot(page, "conversation")
        await page.set_viewport_size({"width": 768, "height": 1000})  # a tablet: the list above the conversation
        listed = await page.locator(".inbox-list").bounding_box()
        talk = await page.locator("#conversation").bounding_box()
        assert listed and talk and talk["y"] >= listed["y"] + listed["height"] and talk["width"] > 700
        await expect(page.get_by_role("button", name="Send")).to_be_in_viewport()
        await screenshot(page, "conversation-768")
        await page.set_viewport_size({"width": 1280, "height": 900})

        # resolve, then reopen the signed-in ticket (closed is final for it)
        await page.get_by_role("button", name="Resolve", exact=True).click()
        update = await client.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["status"] == "resolved")
        assert update["change"] == "status"
        await page.get_by_role("button", name="Reopen", exact=True).click()
        await client.inbox.wait_for("ticket_updated", lambda u: u["ticket"]["status"] == "open")

        # a dropped connection: what happened meanwhile is there after the reconnect, once
        await page.evaluate("Desk.state.socket.disconnect()")
        await expect(page.locator("#connection")).to_contain_text("Disconnected")
        await opened(site, "second visitor")
        await page.evaluate("Desk.state.socket.connect()")
        await expect(page.locator(".ticket")).to_have_count(3)
        await expect(page.locator(".ticket", has_text="Widget visitor · shop")).to_have_count(2)
        await expect(page.locator(".filters [data-status=open] .count")).to_have_text("3 · 1 unread")

        # a reload keeps the session (the refresh token is in sessionStorage), a sign-out ends it
        await page.reload()
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        await expect(page.locator("#who")).to_have_text("Ana (agent)")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_label("Email", exact=True)).to_be_visible()
        assert await page.evaluate("sessionStorage.length") == 0
        no_page_errors(page)


async def test_a_dowell_ticket_is_answered_from_the_console_using_only_the_keyboard(server: Any) -> None:
    site = await site_of(server)
    _, ana = await account(server, Role.AGENT, "Ana")
    await site.admin.ok("add_workspace_member", {"workspace_id": site.workspace["id"], "user_id": ana["user"]["id"]})

    async with chromium() as browser:
        page = await open_console(browser, server)
        unlabeled = await page.evaluate(
            """[...document.querySelectorAll("input, select, textarea")]
                 .filter((field) => field.labels.length === 0).map((field) => field.id)"""
        )
        assert unlabeled == [], "every field has a label"
        await expect(page.get_by_label("Email", exact=True)).to_be_focused()  # the console starts there
        await page.keyboard.type(ana["email"])
        await page.keyboard.press("Tab")
        await page.keyboard.type("correct horse battery")
        await page.keyboard.press("Enter")
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")

        desk = await server.client()  # a Dowell-era frontend with the back-office key, in the ticket's room
        ticket = await desk.ok("create_ticket", site.keyed(user_id="cust-7", product="shop"))
        said = site.keyed(ticket_id=ticket["_id"], product="shop", message_data="app crashes", user_id="cust-7")
        await desk.ok("ticket_message_event", said)
        item = page.locator(".ticket", has_text="Dowell customer · shop")
        await expect(item.locator(".badge")).to_have_text("1")
        await item.focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#messages .body")).to_have_text(["app crashes"])
        await expect(page.get_by_label("Reply")).to_be_focused()
        await page.keyboard.type("Fixed in 2.1, please update.")
        await page.keyboard.press("Control+Enter")
        pushed = await desk.inbox.wait_for(
            "ticket_message_response",
            lambda m: isinstance(m["data"], dict) and m["data"].get("message_data") == "Fixed in 2.1, please update.",
        )
        assert pushed["data"]["author"] == ana["user"]["id"] and pushed["operation"] == "send_message"
        await expect(page.get_by_label("Reply")).to_have_value("")
        no_page_errors(page)
