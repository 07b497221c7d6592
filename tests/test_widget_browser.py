"""The widget as a visitor meets it, in headless Chromium (Playwright, Debian's chromium): a conversation with
typing and read receipts both ways, an upload, a dropped network, a close and a rating, the offline form,
keyboard-only use, small screens and an unreachable socket.io bundle."""

from __future__ import annotations

from typing import Any

from tests.notify_doubles import FAST, MailCatcher, body_of, mail  # noqa: F401 (mail is a fixture)
from tests.widget_kit import shop

MINE = "[...root.querySelectorAll('.message.mine')]"
THEIRS = "[...root.querySelectorAll('.message.theirs')]"


async def test_a_conversation_with_typing_names_times_and_read_receipts_both_ways(start_server: Any) -> None:
    async with shop(start_server) as s:
        agent, info = s.agent, s.agent_info
        assert agent is not None and info is not None
        await s.w(".bubble").click()
        await s.wait("/Ask us anything/.test(root.querySelector('.status').textContent)")
        await s.shot("widget-open")
        await s.say("My order never arrived")
        ticket_id = await s.ticket_id()
        await s.wait(f"{MINE}.some((m) => m.dataset.state === 'sent')")
        assert await s.status() == "An agent will answer you shortly."
        await agent.ok("get_ticket", {"ticket_id": ticket_id})

        await s.w("#dl-input").press_sequentially("Also", delay=30)  # the visitor types: the agent sees it
        typing = await agent.inbox.wait_for("typing", lambda t: t["typing"])
        assert (typing["ticket_id"], typing["name"]) == (ticket_id, "Visitor")
        assert (await agent.inbox.wait_for("typing", lambda t: not t["typing"]))["ticket_id"] == ticket_id
        await agent.ok("typing", {"ticket_id": ticket_id, "typing": True})  # and the visitor sees the agent type
        await s.wait("root.querySelector('.typing').textContent === 'Ana Agent is typing…'")

        await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "Sorry! Resending it today."})
        await s.wait(f"{THEIRS}.length === 1")
        assert await s.texts("theirs") == ["Sorry! Resending it today."]
        assert await s.w(".message.theirs .who").text_content() == "Ana Agent"
        assert await s.js("root.querySelector('.typing').textContent") == "", "a message ends the agent's typing"
        assert await s.w(".message.theirs time").count() == 1
        read = await agent.inbox.wait_for("ticket_read")  # the panel is open: the visitor read it
        mine = await s.js(f"{MINE}[0].dataset.id")
        await agent.ok("mark_read", {"ticket_id": ticket_id, "message_id": mine})
        await s.wait(f"{MINE}[0].dataset.state === 'read'")
        assert await s.js(f"{MINE}[0].querySelector('.state').textContent") == "Read"
        assert read["user_id"].startswith("visitor-")
        assert await s.js(f"{MINE}[0].querySelector('.sr').textContent") == "You said:"
        await s.shot("widget-conversation")

        await s.w(".close").click()  # closed panel: a reply shows on the bubble and in the page title
        await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "It left the warehouse."})
        await s.wait("root.querySelector('.badge').textContent === '1' && !root.querySelector('.badge').hidden")
        assert await s.page.title() == "(1) A shop"
        await s.w(".bubble").click()
        await s.wait("root.querySelector('.badge').hidden")
        assert await s.page.title() == "A shop"
