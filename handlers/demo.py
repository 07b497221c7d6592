"""``GET /demo``: a product page embedding the widget for the demo workspace (only with ``--demo``)."""

from __future__ import annotations

import html
from pathlib import Path
from string import Template

from aiohttp import web

from handlers.context import DEPS_KEY
from handlers.http import http_status
from models.demo import DemoSite
from models.errors import NotFound

PAGE = Path(__file__).resolve().parent.parent / "demo" / "page.html"


def render(site: DemoSite) -> str:
    """Return the demo page for ``site`` (every value HTML-escaped)."""
    values = {
        "workspace_id": site.workspace_id,
        "workspace_name": site.workspace_name,
        "widget_token": site.widget_token,
        "product": site.product,
    }
    return Template(PAGE.read_text(encoding="utf-8")).substitute({k: html.escape(v) for k, v in values.items()})


async def demo_page(request: web.Request) -> web.Response:
    """Serve the demo page, or 404 when the server was not started with the demo."""
    deps = request.app.get(DEPS_KEY)
    site = deps.services.demo.site if deps is not None and deps.settings.demo else None
    if site is None:
        off = NotFound("the demo is off: start the server with --demo (or DESKLINE_DEMO=true)")
        return web.Response(text=off.message, status=http_status(off), headers={"Cache-Control": "no-store"})
    return web.Response(
        text=render(site), content_type="text/html", headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    )


def add_routes(app: web.Application) -> None:
    """Add the demo page route (it answers 404 unless the demo is on)."""
    app.router.add_get("/demo", demo_page)
