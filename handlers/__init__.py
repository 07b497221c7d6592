"""Socket.IO event handlers, one module per domain.

To add a domain: write ``handlers/<domain>.py`` with ``async def setup(deps) -> EventRouter``
(it creates its stores and registers its events) and list it in ``DOMAINS``. A domain that
serves HTTP too adds a ``def add_routes(app)`` and lists it in ``HTTP_ROUTES``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from handlers import (
    accounts,
    attachments,
    calls,
    chat,
    connection,
    helpdesk,
    notify,
    pool,
    presence,
    queue,
    recovery,
    support,
    turn,
    widget,
    workspaces,
)
from handlers.context import Deps
from handlers.events import EventRouter

DOMAINS: list[Callable[[Deps], Awaitable[EventRouter]]] = [
    accounts.setup,
    chat.setup,
    notify.setup,
    recovery.setup,
    workspaces.setup,
    support.setup,
    helpdesk.setup,
    attachments.setup,
    widget.setup,
    queue.setup,
    pool.setup,
    presence.setup,
    calls.setup,
]

HTTP_ROUTES: list[Callable[[web.Application], None]] = [
    recovery.add_routes,
    attachments.add_routes,
    turn.add_routes,
    widget.add_routes,
]


async def register_all(deps: Deps) -> list[str]:
    """Create every domain's stores and register its events; return the event names."""
    connection.setup(deps)
    for setup in DOMAINS:
        router = await setup(deps)
        deps.events.update(router.models)
    return list(deps.events)


def add_all_routes(app: web.Application) -> None:
    """Add every domain's HTTP routes (before the app starts)."""
    for add_routes in HTTP_ROUTES:
        add_routes(app)
