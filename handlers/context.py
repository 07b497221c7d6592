"""What every handler is given: shared dependencies and the calling socket."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import socketio
from aiohttp import web
from pydantic import BaseModel
from redis.asyncio import Redis

from auth.tokens import Grant
from config import Settings
from models.accounts import User
from models.clock import Clock
from models.errors import Unauthorized
from models.pushes import Push
from models.roles import PRINCIPAL_KEY, Principal, Role, require_principal, require_role
from models.rooms import is_public_room, role_room, user_room
from models.workspaces import Workspace
from services.accounts import AccountService
from services.bundle import Services
from services.emitter import Emitter
from services.notify import NotifyService
from storage.database import Database

if TYPE_CHECKING:  # handlers/rate_limits.py reads EventContext from here
    from handlers.rate_limits import RateLimiter

DisconnectHook = Callable[[str, dict[str, Any]], Awaitable[None]]
SessionHook = Callable[[str, dict[str, Any]], Awaitable[None]]
ShutdownHook = Callable[[], Awaitable[None]]
AccountHook = Callable[[User], Awaitable[None]]

log = logging.getLogger("deskline.context")

GRANT = "grant"  # session key: the Grant (session version, expiry) of the token the socket signed in with
VERSION_CHECKED_AT = "version_checked_at"  # session key: when the account's session version was last read

SETTINGS_KEY = web.AppKey("settings", Settings)
DB_KEY = web.AppKey("db", Database)
DEPS_KEY = web.AppKey("deps", "Deps")


@dataclass
class Deps:
    """Dependencies passed to every domain: built once per app, never imported as globals."""

    sio: socketio.AsyncServer
    settings: Settings
    db: Database
    services: Services
    emitter: Emitter
    limits: RateLimiter
    redis: Redis | None = None
    disconnect_hooks: list[DisconnectHook] = field(default_factory=list)
    events: dict[str, type[BaseModel] | None] = field(default_factory=dict)  # every declared event: its model
    session_hooks: list[SessionHook] = field(default_factory=list)
    shutdown_hooks: list[ShutdownHook] = field(default_factory=list)
    account_hooks: list[AccountHook] = field(default_factory=list)

    @property
    def clock(self) -> Clock:
        """The one clock, in whole milliseconds (``services.clock``, ``models.clock.millis_clock``)."""
        return self.services.clock

    @property
    def accounts(self) -> AccountService:
        """The account service (``services.accounts``)."""
        return self.services.accounts

    @property
    def notifier(self) -> NotifyService:
        """The notification service (``services.notify``)."""
        return self.services.notify

    async def session_changed(self, sid: str, session: dict[str, Any]) -> None:
        """Run the session hooks: socket ``sid`` connected, or its principal was set or cleared."""
        for hook in self.session_hooks:
            try:
                await hook(sid, session)
            except Exception:
                log.exception("event=session_hook sid=%s code=internal", sid)

    async def account_changed(self, user: User) -> None:
        """Run the account hooks: an administrator changed the user's role or deactivated them."""
        for hook in self.account_hooks:
            try:
                await hook(user)
            except Exception:
                log.exception("event=account_hook user=%s code=internal", user.id)

    async def shutdown(self) -> None:
        """Run the shutdown hooks, last registered first (the app is stopping)."""
        for hook in reversed(self.shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.exception("event=shutdown_hook code=internal")


@dataclass
class EventContext:
    """One incoming event: who sent it and how to answer around it."""

    sid: str
    deps: Deps
    session: dict[str, Any]
    workspace: Workspace | None = None  # set by the router for WORKSPACE_KEY events

    @property
    def principal(self) -> Principal | None:
        """The signed-in user behind the socket, if any."""
        return self.session.get(PRINCIPAL_KEY)

    @property
    def address(self) -> str:
        """The client's network address as seen at connect."""
        return str(self.session.get("address", ""))

    def require(self, *roles: Role) -> Principal:
        """Return the principal, raising unless signed in (and of one of ``roles`` if given)."""
        if roles:
            return require_role(self.principal, set(roles))
        return require_principal(self.principal)

    async def push(self, push: Push[Any], payload: Any, *, to: str | None = None, skip_self: bool = False) -> None:
        """Push the declared ``push`` to ``to`` (default: this socket only), through the one emitter."""
        await self.deps.emitter.push(push, payload, to=to or self.sid, skip_sid=self.sid if skip_self else None)

    async def enter(self, room: str) -> None:
        """Put this socket in ``room``."""
        await self.deps.sio.enter_room(self.sid, room)

    async def leave(self, room: str) -> None:
        """Take this socket out of ``room``."""
        await self.deps.sio.leave_room(self.sid, room)

    async def sign_in(self, principal: Principal, grant: Grant) -> None:
        """Bind ``principal`` (with its token's ``grant``) to this socket and enter its personal and role rooms."""
        await sign_in_socket(self.deps.sio, self.sid, self.session, principal, grant)
        await self.deps.session_changed(self.sid, self.session)

    async def check_session(self) -> None:
        """Raise ``Unauthorized`` if this socket's token expired, or sign it out if its user's sessions were ended.

        Expiry is checked on every call against the clock. The account's session version is read again only
        when the last read is older than ``session_recheck_seconds``: ending sessions also disconnects every
        socket of the user on every instance, so the re-read only catches a socket that disconnect missed.
        """
        principal, grant = self.principal, self.session.get(GRANT)
        if principal is None:
            return
        if grant is None:  # signed in by a path that kept no grant: refuse rather than trust it forever
            raise Unauthorized("this socket holds no valid session: sign in again")
        now = self.deps.clock()
        self.deps.accounts.check_expiry(grant, now)
        checked: datetime | None = self.session.get(VERSION_CHECKED_AT)
        recheck = timedelta(seconds=self.deps.settings.session_recheck_seconds)
        if checked is not None and checked <= now < checked + recheck:
            return
        try:
            await self.deps.accounts.check_version(principal.user_id, grant)
        except Unauthorized:
            log.info(
                "event=session_check sid=%s user=%s code=unauthorized reason=session_ended", self.sid, principal.user_id
            )
            await self.sign_out()
            raise
        self.session[VERSION_CHECKED_AT] = now

    async def sign_out(self) -> None:
        """Forget this socket's principal and leave every room only a signed-in user may be in."""
        self.session.pop(GRANT, None)
        self.session.pop(VERSION_CHECKED_AT, None)
        if self.session.pop(PRINCIPAL_KEY, None) is not None:
            await leave_private_rooms(self.deps.sio, self.sid)
            await self.deps.session_changed(self.sid, self.session)


async def sign_in_socket(
    sio: socketio.AsyncServer, sid: str, session: dict[str, Any], principal: Principal, grant: Grant
) -> None:
    """Bind ``principal`` and its token's ``grant`` to socket ``sid`` and enter its personal and role rooms."""
    previous: Principal | None = session.get(PRINCIPAL_KEY)
    if previous is not None and previous != principal:
        await leave_private_rooms(sio, sid)
    session[PRINCIPAL_KEY] = principal
    session[GRANT] = grant
    session[VERSION_CHECKED_AT] = None  # the next signed-in event reads the account's session version
    await sio.enter_room(sid, user_room(principal.user_id))
    await sio.enter_room(sid, role_room(principal.role.value))


async def leave_private_rooms(sio: socketio.AsyncServer, sid: str) -> None:
    """Take socket ``sid`` out of every room that was tied to its signed-in user."""
    for room in sio.rooms(sid):
        if room != sid and not is_public_room(room):
            await sio.leave_room(sid, room)
