"""Real JS clients for the tests: socket.io-client from npm, run by Node or by headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.helpers import ROOT, free_port, npm_installed

JS = ROOT / "tests" / "js"


def node_modules() -> Path:
    """Install the JS client's pinned packages once (npm registry) and return their folder."""
    return npm_installed(JS, "socket.io-client")


def socket_io_bundle() -> Path:
    """socket.io-client's browser bundle, the file browsers load from a CDN."""
    return node_modules() / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"


def chromium_or_skip() -> str:
    """Return the headless browser to drive; skip without one, unless DESKLINE_REQUIRE_BROWSER is set (CI)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    if os.environ.get("DESKLINE_REQUIRE_BROWSER"):
        pytest.fail("DESKLINE_REQUIRE_BROWSER is set but no chromium is installed")
    pytest.skip("no chromium on this machine (.ci/run installs it)")


class PageServer:
    """Serves test pages to a browser (its own origin) and collects what they POST to /result."""

    def __init__(self, files: dict[str, Path | str]) -> None:
        self.files = files
        self.results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.runner: web.AppRunner | None = None
        self.port = free_port()

    @property
    def origin(self) -> str:
        """The pages' origin, for the server's CORS list."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> PageServer:
        app = web.Application()
        app.router.add_get("/{name}", self._get)
        app.router.add_post("/result", self._post)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.runner
        await self.runner.cleanup()

    async def _get(self, request: web.Request) -> web.StreamResponse:
        found = self.files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        if isinstance(found, Path):
            return web.FileResponse(found)
        return web.Response(text=found, content_type="text/html")

    async def _post(self, request: web.Request) -> web.Response:
        await self.results.put(json.loads(await request.text()))
        return web.Response(text="thanks")

    async def next_result(self, timeout: float = 60) -> dict[str, Any]:
        """Wait for the next result a page posted."""
        return await asyncio.wait_for(self.results.get(), timeout)


@asynccontextmanager
async def headless_chromium(url: str, profile: Path) -> AsyncIterator[None]:
    """Keep a headless Chromium on `url` open for the duration of the block."""
    browser = chromium_or_skip()
    proc = await asyncio.create_subprocess_exec(
        browser,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        url,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.kill()
        await proc.wait()
