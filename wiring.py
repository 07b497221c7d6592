"""Wiring, in one place: every store built and initialised once, every service built once, hooks connected here.

``build_deps`` is the only code that knows how the pieces fit; domains get what they need through ``Services``
(their ``register(router, services)``) and never append hooks to ``Deps`` themselves. Not-yet-converted domains
still build their own stores in ``setup(deps)`` until step B of issue 14 moves them here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import socketio
from pydantic import BaseModel

from auth.passwords import Passwords
from auth.phones import default_region
from auth.tokens import TokenIssuer, load_or_create_secret
from config import Settings
from handlers import queue as queue_events
from handlers.background import start_periodic
from handlers.context import Deps
from handlers.helpdesk import SioRooms, ticket_rooms_restorer
from handlers.metrics import metrics, observe_store
from handlers.rate_limits import RateLimiter
from handlers.sio_server import DesklineServer
from handlers.sockets import SioSockets
from models.clock import Clock, millis_clock
from models.pushes import Push
from services.accounts import AccountService
from services.attachments import AttachmentService
from services.bundle import Services
from services.calls import CallService
from services.chat import ChatService
from services.emitter import Target
from services.helpdesk import HelpdeskService
from services.notify import NotifyService
from services.pool import PoolService
from services.presence import PresenceService
from services.queue import QueueServices
from services.recovery import RecoveryService
from services.support import SupportService
from services.turn import TurnService
from services.widget import WidgetService
from services.workspaces import WorkspaceService
from storage.accounts import make_account_store
from storage.attachments import make_attachment_store
from storage.calls import make_call_store
from storage.categories import make_category_store
from storage.chat import make_chat_store
from storage.database import Database, new_id
from storage.line_managers import make_line_manager_store
from storage.notify import make_notify_store
from storage.pool import make_pool_store
from storage.presence import make_presence_store
from storage.queue import make_queue_store
from storage.recovery import make_recovery_store
from storage.tickets import make_ticket_store
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
        metrics().emits.labels(push.name).inc()
        await self.sio.emit(push.name, push.dump(payload), to=rooms, skip_sid=skip_sid)  # type: ignore[arg-type]


async def build_deps(
    settings: Settings, sio: socketio.AsyncServer, db: Database, clock: Clock, redis: object = None
) -> Deps:
    """Build every store (``init()`` once each) and every service, connect the hooks, and return the ``Deps``."""
    now = millis_clock(clock)  # the one time-precision rule: services only ever see whole milliseconds
    emitter = SioEmitter(sio)

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
        region=default_region(settings.default_country),
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

    # queue
    queue_store = make_queue_store(db)
    await queue_store.init()
    queue = QueueServices.build(queue_store, accounts, notify, emitter, now)

    # workspaces (the one workspace store; the ticket, category and line-manager stores are init with the tickets)
    workspace_store = make_workspace_store(db)
    await workspace_store.init()
    sockets = SioSockets(sio, lambda: presence)
    ticket_store, category_store = make_ticket_store(db), make_category_store(db)
    line_store = make_line_manager_store(db)
    workspaces = WorkspaceService(workspace_store, category_store, ticket_store, accounts, emitter, sockets, now)

    # attachments
    attachment_store = make_attachment_store(db, settings)
    await attachment_store.init()
    attachments = AttachmentService(attachment_store, workspace_store, ticket_store, settings, now)

    # turn
    turn = TurnService(settings, now)

    # pool
    pool_store = make_pool_store(db)
    await pool_store.init()
    pool = PoolService(pool_store, accounts, notify, emitter, now, settings.pool_hold_limit)

    # presence (in Redis when shared, so every instance sees every socket; settings checked in config.py)
    presence_store = make_presence_store(redis, settings.redis_channel, new_id(), settings.presence_ttl_seconds)
    presence = PresenceService(presence_store, workspace_store, emitter, connected_here(sio))
    await presence.start()

    # calls (the raw clock, as notify's outbox: a call's times are compared to the microsecond in tests)
    call_store = make_call_store(db)
    await call_store.init()
    calls = CallService(
        call_store, presence, accounts, workspace_store, notify, emitter, clock, settings.call_ring_seconds
    )

    # tickets: one ticket store behind every door: support (Dowell), helpdesk (signed in), widget (visitors)
    await ticket_store.init()
    await category_store.init()
    await line_store.init()
    visitor_store = make_visitor_store(db)
    await visitor_store.init()
    widget = WidgetService(workspace_store, visitor_store, ticket_store, line_store, attachments, emitter, now)
    support = SupportService(ticket_store, category_store, line_store, widget, attachments, emitter, now)
    rooms = SioRooms(sio, lambda: presence)
    helpdesk = HelpdeskService(
        ticket_store,
        category_store,
        workspace_store,
        accounts,
        notify,
        attachments,
        rooms,
        widget,
        support,
        emitter,
        now,
    )
    widget.ticket_hooks.append(helpdesk.door_changed)  # widget/Dowell tickets created or closed: ticket_updated

    services = Services(
        settings=settings,
        clock=now,
        emitter=emitter,
        accounts=accounts,
        attachments=attachments,
        calls=calls,
        chat=chat,
        helpdesk=helpdesk,
        notify=notify,
        pool=pool,
        presence=presence,
        queue=queue,
        recovery=recovery,
        support=support,
        turn=turn,
        widget=widget,
        workspaces=workspaces,
    )
    deps = Deps(
        sio=sio,
        settings=settings,
        db=db,
        clock=clock,
        services=services,
        emitter=emitter,
        redis=redis,
    )

    # metrics: every repository operation is timed (deskline_storage_operation_seconds{store,operation})
    for name, store in {
        "accounts": account_store,
        "attachments": attachment_store,
        "calls": call_store,
        "chat": chat_store,
        "notify": notify_store,
        "pool": pool_store,
        "queue": queue_store,
        "recovery": recovery_store,
        "tickets": ticket_store,
        "categories": category_store,
        "line_managers": line_store,
        "visitors": visitor_store,
        "workspaces": workspace_store,
    }.items():
        observe_store(store, name)

    # Hooks and background work, one block per domain
    deps.limits = RateLimiter(settings, sio, redis)
    deps.disconnect_hooks.append(deps.limits.forget)
    if isinstance(sio, DesklineServer):
        sio.unknown_event_hook = deps.limits.unknown_event
    # notify
    await notify.start()
    deps.shutdown_hooks.append(notify.stop)
    # queue
    deps.session_hooks.append(queue_events.tracking_restorer(sio, queue.tracking))
    # helpdesk: a reconnecting socket's ticket rooms (auth.tickets), e.g. after its instance restarted
    deps.session_hooks.append(ticket_rooms_restorer(sio, helpdesk))
    # workspaces and attachments: the tickets' side
    workspaces.helpdesk = attachments.helpdesk = helpdesk
    deps.account_hooks.append(workspaces.follow_account)
    # attachments
    start_periodic(deps, "expire_uploads", settings.unlinked_upload_sweep_seconds, attachments.expire)
    # pool
    deps.account_hooks.append(pool.account_changed)
    # presence
    deps.session_hooks.append(presence.socket_changed)
    deps.disconnect_hooks.append(presence.socket_gone)
    deps.shutdown_hooks.append(presence.stop)
    if redis is not None:
        start_periodic(deps, "presence-heartbeat", settings.presence_heartbeat_seconds, presence.tick)
    # calls
    deps.disconnect_hooks.append(calls.socket_gone)
    presence.dead_instance_hooks.append(calls.instance_lost)
    deps.shutdown_hooks.append(calls.stop)
    start_periodic(deps, "calls-sweep", calls.sweep_seconds, calls.sweep)
    return deps


def connected_here(sio: socketio.AsyncServer) -> Callable[[str], bool]:
    """Return the check "is this socket connected (or connecting, inside ``connect``) to this instance"."""
    manager = sio.manager

    def connected(sid: str) -> bool:
        return bool(manager.is_connected(sid, "/") or manager.is_pre_connected(sid, "/"))

    return connected
