"""Wiring, in one place: every store built and initialised once, every service built once, hooks connected here.

``build_deps`` is the only code that knows how the pieces fit; domains get what they need through ``Services``
(their ``register(router, services)``) and never append hooks to ``Deps`` themselves. Not-yet-converted domains
still build their own stores in ``setup(deps)`` until step B of issue 14 moves them here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import socketio
from pydantic import BaseModel

from auth.passwords import Passwords
from auth.phones import calling_code
from auth.tokens import TokenIssuer, load_or_create_secret
from config import Settings
from handlers.context import Deps
from handlers.helpdesk import SioRooms
from handlers.rate_limits import RateLimiter
from handlers.sio_server import DesklineServer
from models.clock import Clock, millis_clock
from models.pushes import Push
from services.accounts import AccountService
from services.bundle import Services
from services.chat import ChatService
from services.emitter import Target
from services.helpdesk import HelpdeskService
from services.notify import NotifyService
from services.recovery import RecoveryService
from services.support import SupportService
from services.ticket_files import OwnedUploads
from services.widget import WidgetService
from storage.accounts import make_account_store
from storage.attachments import make_attachment_store
from storage.chat import make_chat_store
from storage.database import Database
from storage.helpdesk import make_helpdesk_store
from storage.notify import make_notify_store
from storage.recovery import make_recovery_store
from storage.support import make_support_store
from storage.visitors import make_visitor_store
from storage.workspaces import make_workspace_store


class SioEmitter:
    """The emitter over Socket.IO: validates and dumps a declared push once, then emits it (on every instance)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def push(
        self, push: Push[Any], payload: BaseModel | dict[str, Any], *, to: Target, skip_sid: str | None = None
    ) -> None:
        """Send ``payload`` as ``push`` to a room, a socket or a list of them."""
        rooms = to if isinstance(to, str) else list(to)
        await self.sio.emit(push.name, push.dump(payload), to=rooms, skip_sid=skip_sid)  # type: ignore[arg-type]


async def build_deps(
    settings: Settings, sio: socketio.AsyncServer, db: Database, clock: Clock, redis: object = None
) -> Deps:
    """Build every store (``init()`` once each) and every service, connect the hooks, and return the ``Deps``."""
    now = millis_clock(clock)  # the one time-precision rule: services only ever see whole milliseconds
    emitter = SioEmitter(sio)
    workspace_store = make_workspace_store(db)  # initialised by the workspaces domain until step B wires it here

    # accounts
    account_store = make_account_store(db)
    await account_store.init()
    tokens = TokenIssuer(
        secret=load_or_create_secret(settings.jwt_secret, settings.data_dir),
        access_ttl=timedelta(minutes=settings.access_token_minutes),
        refresh_ttl=timedelta(days=settings.refresh_token_days),
    )
    passwords = Passwords.from_settings(settings)
    await passwords.dummy_hash()  # made now, so the first login of an unknown contact is not the slower one
    accounts = AccountService(
        account_store,
        passwords,
        tokens,
        max_failures=settings.login_max_failures,
        failure_window=timedelta(seconds=settings.login_failure_window_seconds),
        country_code=calling_code(settings.default_country),
    )

    # chat
    chat_store = make_chat_store(db)
    await chat_store.init()
    chat = ChatService(chat_store, emitter, now, settings.history_limit)

    # notify (the outbox keeps the raw clock: its retry times are compared to the microsecond in tests)
    notify_store = make_notify_store(db)
    await notify_store.init()
    notify = NotifyService(notify_store, account_store, emitter, settings, clock)

    # recovery
    recovery_store = make_recovery_store(db)
    await recovery_store.init()
    recovery = RecoveryService(accounts, recovery_store, notify, settings)

    # tickets: support (Dowell), helpdesk (signed in), widget (visitors)
    uploads = OwnedUploads(make_attachment_store(db, settings))
    support_store = make_support_store(db)
    await support_store.init()
    helpdesk_store = make_helpdesk_store(db)
    await helpdesk_store.init()
    visitor_store = make_visitor_store(db)
    await visitor_store.init()
    widget = WidgetService(workspace_store, visitor_store, support_store, uploads, emitter, now)
    support = SupportService(support_store, widget, uploads, emitter, now)
    rooms = SioRooms(sio, lambda: deps.presence)  # presence is still built by its legacy domain, after this
    helpdesk = HelpdeskService(helpdesk_store, workspace_store, accounts, notify, uploads, rooms, emitter, now)

    services = Services(
        settings=settings,
        clock=now,
        emitter=emitter,
        accounts=accounts,
        chat=chat,
        helpdesk=helpdesk,
        notify=notify,
        recovery=recovery,
        support=support,
        widget=widget,
    )
    deps = Deps(
        sio=sio,
        settings=settings,
        db=db,
        clock=clock,
        services=services,
        emitter=emitter,
        workspace_keys=workspace_store,
        redis=redis,
    )

    # Hooks and background work, one block per domain
    deps.limits = RateLimiter(settings, sio, redis)
    deps.disconnect_hooks.append(deps.limits.forget)
    if isinstance(sio, DesklineServer):
        sio.unknown_event_hook = deps.limits.unknown_event
    # notify
    await notify.start()
    deps.shutdown_hooks.append(notify.stop)
    return deps
