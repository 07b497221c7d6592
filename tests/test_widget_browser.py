"""The widget as a visitor meets it, in headless Chromium (Playwright, Debian's chromium): a conversation with
typing and read receipts both ways, an upload, a dropped network, a close and a rating, the offline form, an
unreachable socket.io bundle, strings and looks (accessibility: tests/test_widget_a11y.py)."""

from __future__ import annotations

from typing import Any

from tests.notify_doubles import FAST, MailCatcher, body_of, mail  # noqa: F401 (mail is a fixture)
from tests.widget_kit import MINE, THEIRS, shop


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

        evil = '<img src=x onerror="window.pwned=1">**bold**'  # an agent's (or attacker's) markup stays text
        await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": evil})
        await s.wait(f"{THEIRS}.length === 3")
        assert (await s.texts("theirs"))[-1] == evil
        assert await s.js("root.querySelectorAll('.message img').length") == 0
        assert await s.page.evaluate("window.pwned === undefined")


async def test_messages_typed_while_the_network_is_down_are_sent_once_when_it_is_back(start_server: Any) -> None:
    async with shop(start_server) as s:
        agent = s.agent
        assert agent is not None
        await s.w(".bubble").click()
        await s.say("Before the tunnel")
        ticket_id = await s.ticket_id()
        await s.wait(f"{MINE}.every((m) => m.dataset.state === 'sent')")

        await s.context.set_offline(True)
        await s.wait("/Reconnecting/.test(root.querySelector('.status').textContent)")
        await s.say("In the tunnel 1")
        await s.say("In the tunnel 2")
        await s.wait(f"{MINE}.filter((m) => m.dataset.state === 'pending').length === 2")
        assert await s.js(f"{MINE}[1].querySelector('.state').textContent") == "Sending…"
        assert await s.page.evaluate("DesklineWidget.instance.pending") == 2
        await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "Answered while you were away"})

        await s.context.set_offline(False)
        await s.wait(f"{MINE}.length === 3 && {MINE}.every((m) => m.dataset.state === 'sent')", within=40)
        await s.wait(f"{THEIRS}.length === 1")
        assert await s.texts("mine") == ["Before the tunnel", "In the tunnel 1", "In the tunnel 2"]
        assert await s.texts("theirs") == ["Answered while you were away"]
        history = await agent.ok("get_ticket", {"ticket_id": ticket_id})
        bodies = [m["body"] for m in history["messages"]]
        assert bodies == [
            "Before the tunnel",
            "Answered while you were away",
            "In the tunnel 1",
            "In the tunnel 2",
        ], "nothing lost, nothing doubled"
        ids = await s.js("[...root.querySelectorAll('.message[data-id]')].map((m) => m.dataset.id)")
        assert len(ids) == len(set(ids)) == 4

        await s.page.reload()  # a reload catches up from the history, still once each
        await s.page.wait_for_function("window.DesklineWidget && DesklineWidget.instance")
        await s.w(".bubble").click()
        await s.wait(f"{MINE}.length === 3 && {THEIRS}.length === 1")
        assert await s.page.evaluate("DesklineWidget.instance.pending") == 0


async def test_a_closed_conversation_says_so_takes_a_rating_and_the_next_one_starts_below_a_separator(
    start_server: Any,
) -> None:
    async with shop(start_server) as s:
        assert s.agent is not None
        await s.w(".bubble").click()
        await s.say("Where is my parcel?")
        ticket_id = await s.ticket_id()
        await s.wait(f"{MINE}.every((m) => m.dataset.state === 'sent')")
        await s.agent.ok("set_ticket_status", {"ticket_id": ticket_id, "status": "closed"})
        await s.wait("[...root.querySelectorAll('.separator')].some((x) => /was closed/.test(x.textContent))")
        await s.wait("!root.querySelector('form.rate').hidden")
        await s.w("form.rate label").nth(3).click()  # four stars
        await s.w("form.rate textarea").fill("Friendly, a bit slow")
        await s.w("form.rate button").click()
        await s.wait("/Thank you for your rating/.test(root.querySelector('.status').textContent)")
        rating = await s.agent.ok("get_ticket_rating", {"ticket_id": ticket_id})
        assert (rating["score"], rating["comment"]) == (4, "Friendly, a bit slow")

        await s.say("Another question")
        await s.wait(f"{MINE}.length === 2 && {MINE}[1].dataset.state === 'sent'")
        assert await s.page.evaluate("DesklineWidget.instance.ticketId") != ticket_id
        separators = await s.js("[...root.querySelectorAll('.separator')].map((x) => x.textContent)")
        assert separators == ["This conversation was closed.", "New conversation"]


async def test_a_file_is_uploaded_with_a_preview_and_size_and_type_errors_are_shown(start_server: Any) -> None:
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf0000000301010018dd8db40000000049454e44ae426082"
    )
    limits = {"attachment_max_bytes": 2000, "attachment_content_types": "image/png,application/pdf"}
    async with shop(start_server, **limits) as s:
        assert s.agent is not None
        await s.w(".bubble").click()
        await s.wait("/Ask us anything/.test(root.querySelector('.status').textContent)")
        await s.w("input.file").set_input_files({"name": "receipt.png", "mimeType": "image/png", "buffer": png})
        await s.wait(f"{MINE}.length === 1 && {MINE}[0].dataset.state === 'sent'")
        assert await s.js(f"{MINE}[0].querySelector('img').src.startsWith('blob:')")
        ticket_id = await s.ticket_id()
        history = await s.agent.ok("get_ticket", {"ticket_id": ticket_id})
        [message] = history["messages"]
        assert message["body"] == "receipt.png" and len(message["attachments"]) == 1

        big = {"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF" + b"x" * 5000}
        await s.w("input.file").set_input_files(big)
        await s.wait("/too large/.test(root.querySelector('.status').textContent)")
        assert "KB" in await s.status()
        odd = {"name": "notes.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}
        await s.w("input.file").set_input_files(odd)
        await s.wait("/can't be sent/.test(root.querySelector('.status').textContent)")
        assert await s.w(".message.mine").count() == 1, "refused files send nothing"


async def test_with_no_agent_online_the_visitor_leaves_an_email_and_gets_the_reply_by_email(
    start_server: Any,
    mail: MailCatcher,  # noqa: F811
) -> None:
    async with shop(start_server, online=False, **mail.settings(), **FAST) as s:
        await s.w(".bubble").click()
        await s.wait("!root.querySelector('form.offline').hidden && root.querySelector('form.compose').hidden")
        assert "offline" in str(await s.w("form.offline").text_content())
        await s.w("form.offline input[type=email]").fill("eve@example.com")
        await s.w("form.offline textarea").fill("Please call me back")
        await s.w("form.offline button").click()
        await s.wait(f"{MINE}.length === 1 && {MINE}[0].dataset.state === 'sent'")
        assert await s.status() == "Thanks! We'll answer you at eve@example.com."
        ticket_id = await s.ticket_id()

        from tests.widget_kit import member

        agent, _ = await member(s.site, "Bo Agent")
        await agent.ok("send_ticket_message", {"ticket_id": ticket_id, "body": "I'll call you at 5."})
        [sent] = await mail.wait_count(1)
        assert sent["To"] == "eve@example.com" and "I'll call you at 5." in body_of(sent)
        await s.wait(f"{THEIRS}.length === 1")


async def test_an_unreachable_socket_io_bundle_shows_a_clear_error_and_keeps_the_message(start_server: Any) -> None:
    missing = 'data-socketio-src="http://127.0.0.1:9/socket.io.min.js" data-string-retry="Retry now"'
    async with shop(start_server, extra=missing) as s:
        await s.w(".bubble").click()
        await s.wait("root.querySelector('.status').classList.contains('error')")
        status = await s.status()
        assert "can't be reached" in status and "could not load" not in status and "http" not in status
        assert await s.w(".status button").text_content() == "Retry now", "strings are overridable per page"
        await s.say("Is anyone there?")
        await s.wait(f"{MINE}.length === 1 && {MINE}[0].dataset.state === 'pending'")
        assert await s.page.evaluate("DesklineWidget.instance.pending") == 1


async def test_strings_and_the_workspace_look_come_from_start_and_the_settings(start_server: Any) -> None:
    async with shop(start_server) as s:
        ws = {"workspace_id": s.site.workspace["id"]}
        await s.site.admin.ok("update_widget_settings", {**ws, "color": "#0b5d1e", "title": "Shop help"})
        config = {
            "widgetToken": s.site.token,
            "workspaceId": ws["workspace_id"],
            "product": "shop",
            "server": s.server.url,
            "strings": {"send": "Envoyer", "bubble": "Aide"},
        }
        await s.page.evaluate(
            "(config) => { DesklineWidget.instance.element.remove(); DesklineWidget.instance = null;"
            " DesklineWidget.start(config); }",
            config,
        )
        await s.wait("root.querySelector('.bubble-label').textContent === 'Aide'")
        await s.w(".bubble").click()
        await s.wait("root.querySelector('.title').textContent === 'Shop help'")
        assert await s.w(".send").text_content() == "Envoyer"
        color = await s.js("getComputedStyle(root.querySelector('header')).backgroundColor")
        assert color == "rgb(11, 93, 30)"
