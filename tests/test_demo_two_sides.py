"""Issue 15: the whole support conversation between the two real front ends in headless Chromium, the widget on
/demo (a visitor) and the console on /agent (the demo agent), each in its own browser context of one demo server:
typing shown on the other side both ways, files both ways (each side downloads the other's), messages typed while
the visitor's network is down delivered once when it returns, the console's close, the visitor's rating shown in
the console, the offline form while the agent is away (its message a ticket the agent sees when back, and the form
giving way to the chat once the agent is back), and keyboard-only use of the widget."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.console_kit import WAIT_MS, chromium, no_page_errors, screenshot, sign_in
from tests.helpers import ServerProcess, free_port
from tests.test_demo import logins

DROPPED = re.compile("Reconnecting|can't be reached")  # the status while the socket is down, retrying
RECONNECT_MS = 90_000  # a dropped network is noticed by socket.io's heartbeat, slow on a loaded machine
VISITOR_FILE = b"order 1042: the folder /photos/2024 is missing\n"
AGENT_FILE = b"How to restore a folder: pick it, then a date.\n"
COMMENT = 'Quick and kind <img src=x onerror="window.pwned=1">'  # a visitor's text tries markup in the console


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, tuple[str, str]]]:
    """One server started with the demo for the whole module, and the demo agent's login."""
    env = {"DESKLINE_DATA_DIR": str(tmp_path_factory.mktemp("demo-two-sides")), "DESKLINE_DEMO": "true"}
    server = asyncio.run(ServerProcess(env, free_port()).start(timeout=60))
    try:
        yield server, logins(server)["agent"]
    finally:
        server.stop()


def errors_fail(page: Page) -> Page:
    """Record the page's uncaught script errors for ``no_page_errors``."""
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.errors = errors  # type: ignore[attr-defined]
    page.set_default_timeout(WAIT_MS)
    return page


async def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    """A fresh browser context (own storage, own network switch) and a page in it."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    return context, errors_fail(await context.new_page())


async def visitor_on_demo(browser: Browser, url: str) -> tuple[BrowserContext, Page]:
    """A new visitor on /demo, the widget started (panel still closed)."""
    context, page = await new_page(browser)
    await page.goto(f"{url}/demo")
    await page.wait_for_function("window.DesklineWidget && DesklineWidget.instance")
    return context, page


async def agent_console(browser: Browser, url: str, login: tuple[str, str]) -> tuple[BrowserContext, Page]:
    """The demo agent signed in on /agent in a new context."""
    context, page = await new_page(browser)
    await page.goto(f"{url}/agent")
    await sign_in(page, *login)
    return context, page


async def until(action: Callable[[], Awaitable[Any]], shown: Locator, text: str, within: float = 60) -> None:
    """Repeat ``action`` (e.g. one more key typed) until ``shown`` contains ``text``: typing indicators go away
    by themselves after a short idle time, so one keystroke may be missed on a slow machine."""
    deadline = time.monotonic() + within
    while True:
        await action()
        try:
            await expect(shown).to_contain_text(text, timeout=1_500)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


async def read_download(page: Page, click: Locator) -> bytes:
    """Click ``click`` and return the bytes of the download it starts."""
    async with page.expect_download() as started:
        await click.click()
    download = await started.value
    return Path(await download.path()).read_bytes()


async def reply(agent: Page, text: str) -> None:
    """The agent answers in the open conversation (Send, then the composer is empty again)."""
    await agent.get_by_label("Reply").fill(text)
    await agent.get_by_role("button", name="Send").click()
    await expect(agent.locator("#reply")).to_have_value("")


async def say(visitor: Page, text: str) -> None:
    """The visitor types ``text`` in the widget and sends it with Enter."""
    await visitor.locator("#dl-input").fill(text)
    await visitor.locator("#dl-input").press("Enter")


@pytest.mark.timeout(420)
async def test_a_whole_conversation_between_the_widget_and_the_console(
    demo: tuple[ServerProcess, tuple[str, str]],
) -> None:
    server, login = demo
    async with chromium() as browser:
        agent_context, agent = await agent_console(browser, server.url, login)
        visitor_context, visitor = await visitor_on_demo(browser, server.url)
        await visitor.locator(".bubble").click()
        await say(visitor, "Hi, a folder is missing from my backup.")
        mine = visitor.locator(".messages .message.mine .body")
        theirs = visitor.locator(".messages .message.theirs .body")
        await expect(mine).to_have_text(["Hi, a folder is missing from my backup."])
        await expect(visitor.locator(".message.mine")).to_have_attribute("data-state", "sent")
        await screenshot(visitor, "two-sides-widget-open")

        # the console lists the new ticket live (pushed, no reload) and opens it
        ticket = agent.locator("#tickets .ticket", has_text="Widget visitor")
        await expect(ticket).to_have_count(1)
        await screenshot(agent, "two-sides-agent-inbox")
        await ticket.click()
        said = agent.locator("#messages .message.theirs .body")
        answered = agent.locator("#messages .message.mine .body")
        await expect(said).to_have_text(["Hi, a folder is missing from my backup."])

        # typing shows on the other side, both ways, and goes away with the message
        console_typing, widget_typing = agent.locator("#typing"), visitor.locator(".typing")
        await until(lambda: visitor.locator("#dl-input").press("a"), console_typing, "Visitor is typing")
        await visitor.locator("#dl-input").fill("")
        await say(visitor, "It was /photos/2024.")
        await expect(said).to_have_text(["Hi, a folder is missing from my backup.", "It was /photos/2024."])
        await expect(console_typing).to_have_text("")
        await until(lambda: agent.locator("#reply").press("x"), widget_typing, "Demo Agent is typing")
        await reply(agent, "Let me look at it.")
        await expect(theirs).to_have_text(["Let me look at it."])
        await expect(widget_typing).to_have_text("")

        # the visitor uploads a file: the console shows it and the agent downloads the same bytes
        await visitor.locator(".panel input.file").set_input_files(
            {"name": "order.txt", "mimeType": "text/plain", "buffer": VISITOR_FILE}
        )
        await expect(said.last).to_have_text("order.txt")
        own = visitor.locator(".messages .message.mine").last.get_by_role("button", name="Attachment")
        assert await read_download(visitor, own) == VISITOR_FILE  # the visitor's own file, as the history shows it
        attachment = agent.locator("#messages .message.theirs").last.get_by_role("button", name="Attachment 1")
        assert await read_download(agent, attachment) == VISITOR_FILE

        # the agent attaches a file: the widget shows it and the visitor downloads the same bytes
        await agent.locator("#reply-file").set_input_files(
            {"name": "restore.txt", "mimeType": "text/plain", "buffer": AGENT_FILE}
        )
        await reply(agent, "Here is the guide.")
        await expect(theirs).to_have_text(["Let me look at it.", "Here is the guide."])
        from_agent = visitor.locator(".messages .message.theirs").last.get_by_role("button", name="Attachment")
        assert await read_download(visitor, from_agent) == AGENT_FILE
        await screenshot(agent, "two-sides-agent-conversation")

        # the visitor's network drops: what they type waits (pending), then arrives once when it is back
        before = ["Hi, a folder is missing from my backup.", "It was /photos/2024.", "order.txt"]
        await visitor_context.set_offline(True)
        await expect(visitor.locator(".status")).to_have_text(DROPPED, timeout=RECONNECT_MS)
        await say(visitor, "Written offline, first.")
        await say(visitor, "Written offline, second.")
        await expect(visitor.locator(".message.mine.pending")).to_have_count(2)
        await screenshot(visitor, "two-sides-widget-offline")
        await expect(said).to_have_text(before)  # nothing reached the console meanwhile
        await visitor_context.set_offline(False)
        offline = ["Written offline, first.", "Written offline, second."]
        await expect(said).to_have_text(before + offline, timeout=RECONNECT_MS)
        await expect(visitor.locator(".message.mine.pending")).to_have_count(0)
        await reply(agent, "Got both.")  # a later message: a doubled delivery would have arrived before it
        await expect(theirs).to_have_text(["Let me look at it.", "Here is the guide.", "Got both."])
        await expect(said).to_have_text(before + offline)
        await expect(mine).to_have_text(before + offline)
        await expect(answered).to_have_text(["Let me look at it.", "Here is the guide.", "Got both."])

        # the agent closes; the visitor rates it; the console shows the rating live
        await agent.get_by_role("button", name="Close", exact=True).click()
        await expect(agent.locator("#conv-meta")).to_contain_text("closed")
        await expect(visitor.locator(".messages .separator")).to_have_text(["This conversation was closed."])
        await expect(visitor.locator(".rate")).to_be_visible()
        await screenshot(visitor, "two-sides-widget-closed")
        await visitor.locator(".rate .stars label").nth(3).click()
        await visitor.locator(".rate textarea[name=comment]").fill(COMMENT)
        await visitor.get_by_role("button", name="Send rating").click()
        await expect(visitor.locator(".status")).to_have_text("Thank you for your rating!")
        await expect(visitor.locator(".rate")).to_be_hidden()
        rating = agent.locator("#conv-rating")
        await expect(rating).to_have_text(f"Rated 4 out of 5: “{COMMENT}”")
        assert await rating.locator("*").count() == 0  # the visitor's comment is text, never markup
        assert await agent.evaluate("window.pwned") is None
        await screenshot(agent, "two-sides-agent-rated")

        # opened again later (a new console), the closed ticket still shows its rating
        other_context, other = await agent_console(browser, server.url, login)
        await other.locator(".filters button[data-status=closed]").click()
        await other.locator("#tickets .ticket", has_text="Widget visitor").first.click()
        await expect(other.locator("#conv-rating")).to_have_text(f"Rated 4 out of 5: “{COMMENT}”")
        for page in (visitor, agent, other):
            no_page_errors(page)
        for context in (visitor_context, agent_context, other_context):
            await context.close()


@pytest.mark.timeout(300)
async def test_the_offline_form_while_no_agent_is_online_and_the_chat_once_one_is(
    demo: tuple[ServerProcess, tuple[str, str]],
) -> None:
    server, login = demo
    async with chromium() as browser:
        agent_context, agent = await agent_console(browser, server.url, login)
        tickets = agent.locator("#tickets .ticket", has_text="Widget visitor")
        earlier = await tickets.count()  # other tests' open tickets
        await agent.get_by_role("button", name="Sign out").click()
        await expect(agent.locator("#login-view")).to_be_visible()

        # nobody signed in: the widget asks for an email, and the message left there becomes a ticket
        first_context, first = await visitor_on_demo(browser, server.url)
        await first.locator(".bubble").click()
        form = first.locator("form.offline")
        await expect(form).to_be_visible()
        await expect(first.locator("form.compose")).to_be_hidden()
        await screenshot(first, "two-sides-widget-offline-form")
        await form.get_by_label("Your email").fill("mia@example.com")
        await form.get_by_label("Your message").fill("Please call me back about my invoice.")
        await form.get_by_role("button", name="Leave message").click()
        await expect(first.locator(".status")).to_have_text("Thanks! We'll answer you at mia@example.com.")
        await expect(first.locator(".message.mine")).to_have_attribute("data-state", "sent")

        # the agent signs in again: the ticket left meanwhile is in the inbox, with its message
        await sign_in(agent, *login)
        await expect(tickets).to_have_count(earlier + 1)
        await tickets.first.click()  # the latest
        await expect(agent.locator("#messages .message.theirs .body")).to_have_text(
            ["Please call me back about my invoice."]
        )

        # the agent is away: another visitor gets the offline form, which turns into the chat by itself once the
        # agent is available again (what the visitor had typed in the form is kept)
        presence = agent.locator("#presence")
        await presence.click()
        await expect(presence).to_have_text("Away")
        second_context, second = await visitor_on_demo(browser, server.url)
        await second.locator(".bubble").click()
        await expect(second.locator("form.offline")).to_be_visible()
        await second.locator("form.offline").get_by_label("Your message").fill("Is anyone there?")
        await presence.click()
        await expect(presence).to_have_text("Available")
        await expect(second.locator("form.offline")).to_be_hidden(timeout=60_000)
        await expect(second.locator("form.compose")).to_be_visible()
        await expect(second.locator("#dl-input")).to_have_value("Is anyone there?")
        await second.locator("#dl-input").press("Enter")
        await expect(tickets).to_have_count(earlier + 2)
        await tickets.first.click()
        await expect(agent.locator("#messages .message.theirs .body")).to_have_text(["Is anyone there?"])
        for page in (agent, first, second):
            no_page_errors(page)
        for context in (agent_context, first_context, second_context):
            await context.close()


SHADOW_FOCUS = """() => {
  const host = document.activeElement;
  if (!host || host.id !== 'deskline-widget') return null;
  const inner = host.shadowRoot.activeElement;
  return inner ? (inner.id || inner.className) : null;
}"""
FOCUSED = "document.getElementById('deskline-widget').shadowRoot.activeElement"
FOCUSED_NAME = f"() => {FOCUSED} && {FOCUSED}.name"
FOCUSED_VALUE = f"() => {FOCUSED} && {FOCUSED}.value"


@pytest.mark.timeout(300)
async def test_keyboard_only_a_visitor_opens_writes_and_closes_the_widget(
    demo: tuple[ServerProcess, tuple[str, str]],
) -> None:
    server, login = demo
    async with chromium() as browser:
        agent_context, agent = await agent_console(browser, server.url, login)
        visitor_context, visitor = await visitor_on_demo(browser, server.url)
        for _ in range(20):  # Tab through the page's links to the bubble
            await visitor.keyboard.press("Tab")
            if await visitor.evaluate(SHADOW_FOCUS) == "bubble":
                break
        assert await visitor.evaluate(SHADOW_FOCUS) == "bubble"
        await visitor.keyboard.press("Enter")
        await expect(visitor.locator(".panel")).to_be_visible()
        await expect(visitor.locator(".bubble")).to_have_attribute("aria-expanded", "true")
        assert await visitor.evaluate(SHADOW_FOCUS) == "dl-input"
        await visitor.keyboard.type("Typed with the keyboard only.")
        await visitor.keyboard.press("Enter")
        await expect(visitor.locator(".messages .message.mine .body")).to_have_text(["Typed with the keyboard only."])
        await visitor.keyboard.press("Escape")
        await expect(visitor.locator(".panel")).to_be_hidden()
        assert await visitor.evaluate(SHADOW_FOCUS) == "bubble"
        await expect(visitor.locator(".bubble")).to_have_attribute("aria-expanded", "false")

        # the message reached the console; the agent's reply shows as unread on the closed widget's bubble
        await agent.locator("#tickets .ticket", has_text="Widget visitor").first.click()
        await expect(agent.locator("#messages .message.theirs .body").last).to_have_text(
            "Typed with the keyboard only."
        )
        await reply(agent, "Received, thank you.")
        await expect(visitor.locator(".badge")).to_have_text("1")
        await visitor.keyboard.press("Enter")  # the bubble still has the focus: open again, reply read
        await expect(visitor.locator(".messages .message.theirs .body")).to_have_text(["Received, thank you."])
        await expect(visitor.locator(".badge")).to_be_hidden()

        # the agent closes the ticket; the visitor rates it with the keyboard only: the stars are radio buttons
        await agent.get_by_role("button", name="Close", exact=True).click()
        await expect(visitor.locator(".rate")).to_be_visible()
        for _ in range(20):
            await visitor.keyboard.press("Tab")  # forward: round the dialog to the first star
            if await visitor.evaluate(FOCUSED_NAME) == "score":
                break
        assert await visitor.evaluate(FOCUSED_NAME) == "score"
        assert await visitor.evaluate(FOCUSED_VALUE) == "1"
        for _ in range(3):  # from the first star: the arrows move and check, up to 4
            await visitor.keyboard.press("ArrowRight")
        await visitor.keyboard.press("Tab")
        assert await visitor.evaluate(FOCUSED_NAME) == "comment"
        await visitor.keyboard.type("Easy without a mouse.")
        await visitor.keyboard.press("Tab")
        await visitor.keyboard.press("Enter")
        await expect(visitor.locator(".status")).to_have_text("Thank you for your rating!")
        assert await visitor.evaluate(SHADOW_FOCUS) == "dl-input"
        await expect(agent.locator("#conv-rating")).to_have_text("Rated 4 out of 5: “Easy without a mouse.”")
        no_page_errors(visitor)
        no_page_errors(agent)
        for context in (agent_context, visitor_context):
            await context.close()
