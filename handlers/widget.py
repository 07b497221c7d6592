"""GET /widget.js: the embeddable support widget (widget/deskline-widget.js) product sites drop in."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

PATH = "/widget.js"
SCRIPT = Path(__file__).resolve().parent.parent / "widget" / "deskline-widget.js"


def add_routes(app: web.Application) -> None:
    """Serve the widget script; browsers may cache it for five minutes."""
    app.router.add_get(PATH, widget_script)


async def widget_script(request: web.Request) -> web.StreamResponse:
    """Return the widget's JavaScript."""
    response = web.FileResponse(SCRIPT, headers={"Cache-Control": "public, max-age=300"})
    response.content_type = "text/javascript"
    return response
