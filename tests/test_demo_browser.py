"""The demo in two browser windows: a visitor on /demo and the demo agent on /agent talk both ways, survive the
visitor's dropped network without losing or doubling a message, and the console's close reaches the visitor.
The demo page loads everything (widget, socket.io-client) from the Deskline server itself."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, expect

from tests.console_kit import WAIT_MS, chromium, no_page_errors, screenshot, sign_in
from tests.helpers import ServerProcess, free_port
from tests.test_demo import logins

DROPPED = re.compile("Reconnecting|can't be reached")  # the status while the socket is down, retrying


async def visitor_page(context: BrowserContext, url: str, requests: list[str]) -> Page:
    """Open /demo in ``context``, recording every request and WebSocket URL the page makes."""
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda socket: requests.append(socket.url))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{url}/demo")
    return page


async def say(page: Page, text: str) -> None:
    """The visitor types ``text`` in the widget and sends it."""
    await page.locator(".panel input[name=text]").fill(text)
    await page.locator(".panel input[name=text]").press("Enter")


async def answer(agent: Page, text: str) -> None:
    """The agent answers in the open conversation."""
    await agent.get_by_label("Reply").fill(text)
    await agent.get_by_role("button", name="Send").click()
    await expect(agent.locator("#reply")).to_have_value("")


async def test_a_visitor_and_the_demo_agent_talk_in_two_windows(tmp_path: Path) -> None:
    env = {"DESKLINE_DATA_DIR": str(tmp_path / "data"), "DESKLINE_DEMO": "true"}
    server = await ServerProcess(env, free_port()).start(timeout=60)
    try:
        email, password = logins(server)["agent"]
        requests: list[str] = []
        async with chromium() as browser:
            # the agent signs in first: with nobody online the widget would offer the offline form instead
            agent_context = await browser.new_context(viewport={"width": 1280, "height": 900})
            agent = await agent_context.new_page()
            agent.set_default_timeout(WAIT_MS)
            agent_errors: list[str] = []
            agent.on("pageerror", lambda err: agent_errors.append(str(err)))
            agent.errors = agent_errors  # type: ignore[attr-defined]
            await agent.goto(f"{server.url}/agent")
            await sign_in(agent, email, password)

            visitor_context = await browser.new_context(viewport={"width": 1280, "height": 900})
            visitor = await visitor_page(visitor_context, server.url, requests)
            await visitor.locator(".bubble").click()
            await expect(visitor.locator(".panel")).to_be_visible()
            await say(visitor, "Hello, can I restore a folder?")
            mine = visitor.locator(".messages .message.mine .body")
            theirs = visitor.locator(".messages .message.theirs .body")
            await expect(mine).to_have_text(["Hello, can I restore a folder?"])
            await screenshot(visitor, "demo-widget-open")
            ticket = agent.locator(".ticket", has_text="Widget visitor")
            await expect(ticket).to_have_count(1)
            await screenshot(agent, "demo-agent-inbox")
            await ticket.click()
            said = agent.locator("#messages .message.theirs .body")
            answered = agent.locator("#messages .message.mine .body")
            await expect(said).to_have_text(["Hello, can I restore a folder?"])
            await expect(agent.locator("#conv-meta")).not_to_contain_text("offline")  # a visitor has no presence

            # both ways
            await answer(agent, "Yes: pick the folder, then a date.")
            await expect(theirs).to_have_text(["Yes: pick the folder, then a date."])
            await say(visitor, "Great, thanks!")
            await expect(said).to_have_text(["Hello, can I restore a folder?", "Great, thanks!"])

            # the visitor's network drops; the agent writes meanwhile; the network comes back
            await visitor_context.set_offline(True)
            await expect(visitor.locator(".status")).to_have_text(DROPPED, timeout=90_000)
            await answer(agent, "Anything else?")
            await answer(agent, "I am still here.")
            await expect(theirs).to_have_count(1)  # nothing reaches the visitor while offline
            await visitor_context.set_offline(False)
            await expect(theirs).to_have_text(
                ["Yes: pick the folder, then a date.", "Anything else?", "I am still here."], timeout=90_000
            )
            await say(visitor, "All good now.")
            await expect(said).to_have_text(["Hello, can I restore a folder?", "Great, thanks!", "All good now."])
            await expect(mine).to_have_text(["Hello, can I restore a folder?", "Great, thanks!", "All good now."])
            await expect(answered).to_have_text(
                ["Yes: pick the folder, then a date.", "Anything else?", "I am still here."]
            )
            await screenshot(agent, "demo-agent-conversation")

            # a reload of the visitor's page shows the same conversation, once
            await visitor.reload()
            await visitor.locator(".bubble").click()
            await expect(visitor.locator(".messages .message")).to_have_count(6)
            await expect(theirs).to_have_text(
                ["Yes: pick the folder, then a date.", "Anything else?", "I am still here."]
            )

            # the agent closes the ticket: the visitor is told the conversation is closed
            await agent.get_by_role("button", name="Close", exact=True).click()
            await expect(agent.locator("#conv-meta")).to_contain_text("closed")
            await expect(visitor.locator(".messages .separator")).to_have_text(["This conversation was closed."])
            await screenshot(visitor, "demo-widget-closed")
            no_page_errors(visitor)
            no_page_errors(agent)

        # everything the demo page loaded came from the Deskline server: no CDN, no other origin
        origin = urlsplit(server.url)
        assert requests and all(urlsplit(u).netloc == origin.netloc for u in requests), requests
        assert any("socket.io" in urlsplit(u).path and urlsplit(u).path.endswith(".js") for u in requests), requests
        assert any(urlsplit(u).scheme == "ws" for u in requests), requests
    finally:
        server.stop()
