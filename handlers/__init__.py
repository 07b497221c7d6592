"""Socket.IO event handlers, one module per domain.

To add a domain (see docs/architecture.md): write ``handlers/<domain>.py`` with
``def register(router: EventRouter, services: Services) -> None`` (sync, no I/O: it only declares events) and
list it in ``DOMAINS``; its stores and services are built in ``wiring.py``. A domain that serves HTTP too adds
a ``def add_routes(app)`` and lists it in ``HTTP_ROUTES``.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from handlers import (
    accounts,
    attachments,
    calls,
    chat,
    connection,
    console,
    demo,
    helpdesk,
    helpdesk_stats,
    notify,
    pool,
    presence,
    profiles,
    queue,
    ready,
    recovery,
    support,
    turn,
    widget,
    workspaces,
)
from handlers.context import Deps
from handlers.events import EventRouter
from services.bundle import Services

Register = Callable[[EventRouter, Services], None]

# Every domain: any order works (tests/test_wiring.py registers them reversed).
DOMAINS: list[Register] = [
    accounts.register,
    calls.register,
    chat.register,
    helpdesk.register,
    helpdesk_stats.register,
    notify.register,
    queue.register,
    pool.register,
    presence.register,
    profiles.register,
    recovery.register,
    workspaces.register,
    support.register,
    widget.register,
]

HTTP_ROUTES: list[Callable[[web.Application], None]] = [
    recovery.add_routes,
    attachments.add_routes,
    turn.add_routes,
    widget.add_routes,
    console.add_routes,
    ready.add_routes,
    demo.add_routes,
]


async def register_all(deps: Deps) -> list[str]:
    """Register every domain's events; return the event names."""
    connection.setup(deps)
    for register in DOMAINS:
        router = EventRouter(deps)
        register(router, deps.services)
        deps.events.update(router.models)
    return list(deps.events)


def add_all_routes(app: web.Application) -> None:
    """Add every domain's HTTP routes (before the app starts)."""
    for add_routes in HTTP_ROUTES:
        add_routes(app)
