"""Driving the agent console (GET /agent) in headless Chromium with Playwright, and the accounts it signs in as."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright, expect

from models.roles import Role
from tests.browser import chromium_or_skip
from tests.helpers import Client, RunningServer

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # git-ignored: screenshots of the console
PASSWORD = "correct horse battery"
WAIT_MS = 20_000  # generous: the machine is shared and slow at times

expect.set_options(timeout=WAIT_MS)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Debian Chromium driven by Playwright (no browser download)."""
    executable = chromium_or_skip()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def account(server: RunningServer, role: Role, name: str) -> tuple[Client, dict[str, Any]]:
    """Create an account of ``role`` with the shared password; return a socket signed in as it and its user."""
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    user = await server.deps.accounts.create(email, None, name, PASSWORD, role, server.clock())
    pair = await server.deps.accounts.issue(user, server.clock())
    client = await server.client(token=pair.access_token)
    return client, {"user": user.model_dump(mode="json"), "email": email, "access_token": pair.access_token}


async def open_console(browser: Browser, server: RunningServer, width: int = 1280, height: int = 900) -> Page:
    """A new browser context (own sessionStorage) on /agent; page errors fail the test."""
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.set_default_timeout(WAIT_MS)
    await page.goto(f"{server.url}/agent")
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill the sign-in form and wait until the console has loaded its lists."""
    await page.get_by_label("Email", exact=True).fill(email)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")


async def screenshot(page: Page, name: str) -> None:
    """Save a screenshot under tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def no_page_errors(page: Page) -> None:
    """Fail on any uncaught script error the page had."""
    assert page.errors == [], page.errors  # type: ignore[attr-defined]
