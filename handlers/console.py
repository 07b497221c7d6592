"""The agent console: a single-page app served at GET /agent (HTML, CSS and scripts from ``console/``).

The page names every asset by its versioned path (``/assets/<name>.<hash>.<ext>``, cached for a year), so only
``/agent`` itself is revalidated; everything comes from Deskline, nothing from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from handlers.assets import Asset, add_asset, served_socket_io, with_socket_io

PATH = "/agent"
FOLDER = Path(__file__).resolve().parent.parent / "console"
PAGE = FOLDER / "agent.html"
# The page's placeholders and the files they name, in the order the page loads them.
FILES = {
    "__CONSOLE_CSS__": "agent.css",
    "__CONSOLE_CORE_JS__": "agent-core.js",
    "__CONSOLE_INBOX_JS__": "agent-inbox.js",
    "__CONSOLE_CONVERSATION_JS__": "agent-conversation.js",
    "__CONSOLE_WORK_JS__": "agent-work.js",
    "__CONSOLE_ADMIN_JS__": "agent-admin.js",
    "__CONSOLE_MAIN_JS__": "agent-main.js",
}


def add_routes(app: web.Application) -> None:
    """Serve the console page at /agent and its assets at their versioned paths (ETag, gzip)."""
    socket_io = served_socket_io(app)
    assets = {placeholder: Asset.load(FOLDER / name) for placeholder, name in FILES.items()}
    for asset in assets.values():
        add_asset(app, None, asset)
    add_asset(app, PATH, console_page(assets, socket_io))


def console_page(assets: dict[str, Asset], socket_io: Asset) -> Asset:
    """The console's HTML, naming each asset (and the socket.io-client bundle) by its versioned path."""
    html = with_socket_io(PAGE.read_text(encoding="utf-8"), socket_io)
    for placeholder, asset in assets.items():
        html = html.replace(placeholder, asset.versioned_path)
    return Asset.of("agent.html", html.encode())
