"""Wiring, in one place: every store built and initialised once, every service built once, hooks connected here.

``build_deps`` is the only code that knows how the pieces fit; domains get what they need through ``Services``
(their ``register(router, services)``) and never append hooks to ``Deps`` themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import socketio
from pydantic import BaseModel
from redis.asyncio import Redis

from auth.passwords import Passwords
from auth.phones import default_region
from auth.tokens import TokenIssuer, load_or_create_secret
from config import Settings
from handlers import queue as queue_events
from handlers.background import start_periodic
from handlers.context import Deps
from handlers.helpdesk import SioRooms, ticket_rooms_restorer
from handlers.metrics import LabelledChildren, observe_store
from handlers.rate_limits import RateLimiter
from handlers.recovery_identity import AuthIdentity, session_identity
from handlers.recovery_rooms import PrivateRooms
from handlers.sio_server import DesklineServer
from handlers.sockets import SioSockets
from models.clock import Clock, millis_clock
from models.pushes import ALL_PUSHES, Push
from services.accounts import AccountService
from services.attachments import AttachmentService
from services.bundle import Services
from services.calls import CallService
from services.chat import ChatService
from services.demo import DemoService
from services.emitter import Target
from services.helpdesk import HelpdeskService
from services.helpdesk_stats import HelpdeskStatsService
from services.notify import NotifyService
from services.pool import PoolService
from services.presence import PresenceService
from services.profiles import ProfileService
from services.queue import QueueServices
from services.recovery import RecoveryService
from services.session_recovery import SessionRecoveryService
from services.support import SupportService
from services.turn import TurnService
from services.widget import WidgetService
from services.widget_live import WidgetLiveService
from services.workspaces import WorkspaceService
from storage.accounts import make_account_store
from storage.attachments import make_attachment_store
from storage.calls import make_call_store
from storage.categories import make_category_store
from storage.chat import make_chat_store
from storage.database import Database, new_id
from storage.helpdesk_stats import make_helpdesk_stats_store
from storage.line_managers import make_line_manager_store
from storage.notify import make_notify_store
from storage.pool import make_pool_store
from storage.presence import make_presence_store
from storage.profiles import make_profile_store
from storage.queue import make_queue_store
from storage.recovery import make_recovery_store
from storage.session_recovery import make_session_recovery_store
from storage.tickets import make_ticket_store
from storage.visitors import make_visitor_store
from storage.workspaces import make_workspace_store


class SioEmitter:
    """The emitter over Socket.IO: validates and dumps a declared push once, then emits it (on every instance)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self._emits = LabelledChildren("emits")  # by push name

    async def push(
        self, push: Push[Any], payload: BaseModel | dict[str, Any], *, to: Target, skip_sid: str | None = None
    ) -> None:
        """Send ``payload`` as ``push`` to a room, a socket or a list of them; refuse a push not declared."""
        declared = ALL_PUSHES.get(push.name)
        if declared is None or declared.model is not push.model:
            raise ValueError(f"push {push.name!r} is not declared (Push(name, Model) in models/)")
        rooms = to if isinstance(to, str) else list(to)
        self._emits(push.name).inc()
        await self.sio.emit(push.name, push.dump(payload), to=rooms, skip_sid=skip_sid)  # type: ignore[arg-type]


async def build_deps(
    settings: Settings, sio: socketio.AsyncServer, db: Database, clock: Clock, redis: Redis | None = None
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

    # notify
    notify_store = make_notify_store(db)
    await notify_store.init()
    notify = NotifyService(notify_store, account_store, emitter, settings, now)

    # recovery
    recovery_store = make_recovery_store(db)
    await recovery_store.init()
    recovery = RecoveryService(accounts, recovery_store, notify, settings)

    # queue
    queue_store = make_queue_store(db)
    await queue_store.init()
    queue = QueueServices.build(queue_store, accounts, notify, emitter, now)

    # workspaces (the one workspace store; presence needs it, and the workspaces reach sockets through presence)
    workspace_store = make_workspace_store(db)
    await workspace_store.init()

    # presence (in Redis when shared, so every instance sees every socket; settings checked in config.py)
    presence_store = make_presence_store(redis, settings.redis_channel, new_id(), settings.presence_ttl_seconds)
    grace = min(settings.presence_grace_seconds, settings.recovery_window_seconds)  # never past recovery's window
    presence = PresenceService(presence_store, workspace_store, emitter, connected_here(sio), grace)
    await presence.start()

    # workspaces (the ticket, category and line-manager stores are init with the tickets)
    sockets = SioSockets(sio, presence)
    ticket_store, category_store = make_ticket_store(db), make_category_store(db)
    line_store = make_line_manager_store(db)
    workspaces = WorkspaceService(workspace_store, category_store, ticket_store, accounts, emitter, sockets, now)

    # attachments
    attachment_store = make_attachment_store(db, settings)
    await attachment_store.init()
    attachments = AttachmentService(attachment_store, workspace_store, ticket_store, settings, now)

    # profiles (the picture is an upload linked to the profile, served by the attachments' download rules)
    profile_store = make_profile_store(db)
    await profile_store.init()
    profiles = ProfileService(
        profile_store, accounts, workspace_store, attachment_store, emitter, now, settings.profile_picture_max_bytes
    )

    # turn
    turn = TurnService(settings, now)

    # pool
    pool_store = make_pool_store(db)
    await pool_store.init()
    pool = PoolService(pool_store, accounts, notify, emitter, now, settings.pool_hold_limit)

    # calls
    call_store = make_call_store(db)
    await call_store.init()
    calls = CallService(
        call_store, presence, accounts, workspace_store, notify, emitter, now, settings.call_ring_seconds
    )

    # tickets: one ticket store behind every door: support (Dowell), helpdesk (signed in), widget (visitors)
    await ticket_store.init()
    await category_store.init()
    await line_store.init()
    visitor_store = make_visitor_store(db)
    await visitor_store.init()
    widget = WidgetService(
        workspace_store, visitor_store, ticket_store, line_store, attachments, account_store, emitter, now
    )
    support = SupportService(ticket_store, category_store, line_store, widget, attachments, emitter, now)
    rooms = SioRooms(sio, presence)
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
    widget_live = WidgetLiveService(
        widget, workspace_store, visitor_store, ticket_store, presence, notify, emitter, now
    )
    widget.ticket_hooks.append(widget_live.line_moved)  # a ticket ahead closed or reopened: widget_wait_changed
    widget.reply_hooks.append(widget_live.email_reply)  # replies to visitors who left an email are emailed

    # helpdesk_stats (reads the tickets; told of every ticket push by the helpdesk's change hooks)
    helpdesk_stats_store = make_helpdesk_stats_store(db)
    await helpdesk_stats_store.init()
    helpdesk_stats = HelpdeskStatsService(
        helpdesk_stats_store, workspace_store, accounts, emitter, now, settings.helpdesk_stats_debounce_seconds
    )

    # demo (made at start by server.py when DESKLINE_DEMO is on)
    demo = DemoService(accounts, workspaces, helpdesk, line_store, now)

    services = Services(
        settings=settings,
        clock=now,
        emitter=emitter,
        accounts=accounts,
        attachments=attachments,
        calls=calls,
        chat=chat,
        demo=demo,
        helpdesk=helpdesk,
        helpdesk_stats=helpdesk_stats,
        notify=notify,
        pool=pool,
        presence=presence,
        profiles=profiles,
        queue=queue,
        recovery=recovery,
        support=support,
        turn=turn,
        widget=widget,
        widget_live=widget_live,
        workspaces=workspaces,
    )
    deps = Deps(
        sio=sio,
        settings=settings,
        db=db,
        services=services,
        emitter=emitter,
        limits=RateLimiter(settings, sio, redis),
        redis=redis,
    )

    # connection-state recovery (issue 16): broadcasts kept for the window, dropped sessions, retried requests
    session_store = make_session_recovery_store(db, redis, settings.redis_channel, settings.recovery_window_seconds)
    await session_store.init()
    if isinstance(sio, DesklineServer) and settings.recovery_window_seconds > 0:
        # One process with its own SQLite and no Redis keeps every session there is: a broadcast nobody can ask
        # back is then not persisted (handlers.recovery_emits); it first learns the sessions kept before it started.
        alone = redis is None and db.kind == "sqlite"
        sio.recovery = SessionRecoveryService(session_store, now, settings.recovery_window_seconds, alone)
        if alone:
            await sio.recovery.load_kept()
        sio.auth_identity, sio.session_identity = AuthIdentity(deps), session_identity
        sio.private_rooms = PrivateRooms(services.helpdesk)
        refresh_every = max(1.0, settings.recovery_window_seconds / 4)  # a crash loses at most this much of it
        start_periodic(deps, "recovery-sessions", refresh_every, sio.refresh_sessions)

    # metrics: every repository operation is timed (deskline_storage_operation_seconds{store,operation})
    for name, store in {
        "accounts": account_store,
        "attachments": attachment_store,
        "calls": call_store,
        "chat": chat_store,
        "helpdesk_stats": helpdesk_stats_store,
        "notify": notify_store,
        "pool": pool_store,
        "profiles": profile_store,
        "queue": queue_store,
        "recovery": recovery_store,
        "session_recovery": session_store,
        "tickets": ticket_store,
        "categories": category_store,
        "line_managers": line_store,
        "visitors": visitor_store,
        "workspaces": workspace_store,
    }.items():
        observe_store(store, name)

    # Hooks and background work, one block per domain
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
    # helpdesk_stats: a debounced helpdesk_stats_updated after ticket changes
    helpdesk.change_hooks.append(helpdesk_stats.ticket_changed)
    deps.shutdown_hooks.append(helpdesk_stats.stop)
    # profiles: who may download a profile picture
    attachments.profiles = widget.authors = profiles  # widget: the answering agent's name and picture
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
