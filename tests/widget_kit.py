"""The widget in a real browser: a shop page embedding it, headless Chromium driven by Playwright (Debian's
chromium, nothing downloaded), and the support side (a Dowell line manager and a signed-in agent member)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from models.roles import Role
from tests.browser import PageServer, chromium_or_skip
from tests.helpdesk_kit import signed_in
from tests.helpers import ROOT, Client, RunningServer
from tests.security.test_widget_token import Site, site_of

ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots (git-ignored)

SHOP = """<!doctype html>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>A shop</title>
<h1>A shop that embeds Deskline</h1>
<a href="#top">A link of the shop</a>
<script src="{server}/widget.js" async data-workspace-id="{workspace}" data-widget-token="{token}"
        data-product="shop" {extra}></script>
"""

SHADOW = "document.getElementById('deskline-widget').shadowRoot"
MINE = "[...root.querySelectorAll('.message.mine')]"  # page expressions of the visitor's and the agents' messages
THEIRS = "[...root.querySelectorAll('.message.theirs')]"


@dataclass
class Shop:
    """A running Deskline, its site, a signed-in agent member and the visitor's browser page."""

    server: RunningServer
    site: Site
    agent: Client | None
    agent_info: dict[str, Any] | None
    pages: PageServer
    page: Any
    context: Any

    def w(self, selector: str) -> Any:
        """A locator inside the widget (Playwright's CSS pierces its open shadow root)."""
        return self.page.locator(f"#deskline-widget {selector}")

    async def texts(self, side: str) -> list[str]:
        """The text of the visitor's (``mine``) or the support side's (``theirs``) messages on screen."""
        return list(await self.w(f".message.{side} .body").all_text_contents())

    async def status(self) -> str:
        """The status line's text."""
        return str(await self.w(".status").text_content())

    async def wait(self, expression: str, within: float = 20) -> None:
        """Wait until ``expression`` (with ``root`` the widget's shadow root) is true in the page."""
        script = f"(() => {{ const root = {SHADOW}; return {expression}; }})()"
        await self.page.wait_for_function(script, timeout=within * 1000)

    async def js(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page, with ``root`` the widget's shadow root."""
        return await self.page.evaluate(f"(() => {{ const root = {SHADOW}; return {expression}; }})()")

    async def say(self, text: str) -> None:
        """Type a message in the widget and send it with Enter."""
        await self.w("#dl-input").fill(text)
        await self.w("#dl-input").press("Enter")

    async def ticket_id(self) -> str:
        """The id of the visitor's current ticket."""
        await self.page.wait_for_function("!!DesklineWidget.instance.ticketId", timeout=20_000)
        return str(await self.page.evaluate("DesklineWidget.instance.ticketId"))

    async def shot(self, name: str) -> None:
        """Save a screenshot under tests/artifacts/."""
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def member(site: Site, name: str = "Ana Agent") -> tuple[Client, dict[str, Any]]:
    """A signed-in agent member of the site's workspace (online: the widget offers the chat)."""
    agent, info = await signed_in(site.server, Role.AGENT, name)
    await site.admin.ok("add_workspace_member", {"workspace_id": site.workspace["id"], "user_id": info["user"]["id"]})
    return agent, info


@asynccontextmanager
async def shop(
    start_server: Callable[..., Awaitable[RunningServer]],
    online: bool = True,
    extra: str = "",
    viewport: dict[str, int] | None = None,
    **settings: Any,
) -> AsyncIterator[Shop]:
    """Start Deskline, a shop page embedding the widget and a headless Chromium on it."""
    from playwright.async_api import async_playwright

    pages = PageServer({})
    server = await start_server("sqlite", cors_origins=pages.origin, **settings)
    site = await site_of(server)
    agent, info = await member(site) if online else (None, None)
    html = SHOP.format(server=server.url, workspace=site.workspace["id"], token=site.token, extra=extra)
    pages.files["shop.html"] = html
    async with pages, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_or_skip(), args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport=viewport or {"width": 1024, "height": 768})
            page = await context.new_page()
            await page.goto(f"{pages.origin}/shop.html")
            await page.wait_for_function("window.DesklineWidget && DesklineWidget.instance")
            yield Shop(server, site, agent, info, pages, page, context)
        finally:
            await browser.close()
