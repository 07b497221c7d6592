"""Account events: register, login, refresh_token, logout, me, and the admin's user management."""

from __future__ import annotations

import logging
from typing import Any

from handlers.access import ADMIN, ANONYMOUS, SIGNED_IN
from handlers.context import Deps, EventContext
from handlers.events import EventRouter, NoPayload
from models.accounts import (
    SESSION_ENDED,
    CreateUserPayload,
    ListUsersPayload,
    LoginPayload,
    LogoutPayload,
    RefreshPayload,
    RegisterPayload,
    SessionEnded,
    TokenPair,
    UpdateUserPayload,
    User,
    UserIdPayload,
)
from models.roles import Role
from models.rooms import user_room
from services.bundle import Services

ADMIN_CHANGED = "account changed by an administrator"
LOGGED_OUT_EVERYWHERE = "logged out everywhere"

log = logging.getLogger("deskline.accounts")


def register(router: EventRouter, services: Services) -> None:
    """Declare the account events."""
    accounts, clock = services.accounts, services.clock

    @router.on("register", RegisterPayload, access=ANONYMOUS, signs_in=True)
    async def register(ctx: EventContext, p: RegisterPayload) -> TokenPair:
        now = clock()
        user = await accounts.create(p.email, p.phone, p.name, p.password, Role.CLIENT, now)
        pair = await accounts.issue(user, now)
        await ctx.sign_in(*accounts.session_of(pair, now))
        return pair

    @router.on("login", LoginPayload, access=ANONYMOUS, signs_in=True)
    async def login(ctx: EventContext, p: LoginPayload) -> TokenPair:
        now = clock()
        pair = await accounts.login(p.email, p.phone, p.password, ctx.address, now)
        await ctx.sign_in(*accounts.session_of(pair, now))
        return pair

    @router.on("refresh_token", RefreshPayload, access=ANONYMOUS, signs_in=True)
    async def refresh_token(ctx: EventContext, p: RefreshPayload) -> TokenPair:
        now = clock()
        pair = await accounts.refresh(p.refresh_token, now)
        await ctx.sign_in(*accounts.session_of(pair, now))
        return pair

    @router.on("logout", LogoutPayload, access=SIGNED_IN)
    async def logout(ctx: EventContext, p: LogoutPayload) -> dict[str, Any]:
        who = ctx.require()
        await ctx.sign_out()  # first: this socket answers signed out and is spared the push and disconnect
        if p.everywhere:
            return {"revoked": await end_sessions(ctx.deps, who.user_id, LOGGED_OUT_EVERYWHERE, skip_sid=ctx.sid)}
        return {"revoked": await accounts.logout(who.user_id, p.refresh_token)}

    @router.on("me", NoPayload, access=SIGNED_IN)
    async def me(ctx: EventContext, _: NoPayload) -> User:
        return await accounts.user(ctx.require().user_id)

    @router.on("create_user", CreateUserPayload, access=ADMIN)
    async def create_user(ctx: EventContext, p: CreateUserPayload) -> User:
        return await accounts.create(p.email, p.phone, p.name, p.password, p.role, clock())

    @router.on("list_users", ListUsersPayload, access=ADMIN)
    async def list_users(ctx: EventContext, p: ListUsersPayload) -> dict[str, Any]:
        return await accounts.page_of_users(p.role, p.cursor, p.limit)

    @router.on("update_user", UpdateUserPayload, access=ADMIN)
    async def update_user(ctx: EventContext, p: UpdateUserPayload) -> User:
        user = await accounts.update(p.user_id, p.name, p.role, p.active)
        if p.active is False or p.role is not None:
            await end_sessions_from(ctx, user.id, ADMIN_CHANGED)
            await ctx.deps.account_changed(user)
        return user

    @router.on("deactivate_user", UserIdPayload, access=ADMIN)
    async def deactivate_user(ctx: EventContext, p: UserIdPayload) -> User:
        user = await accounts.update(p.user_id, None, None, False)
        await end_sessions_from(ctx, user.id, ADMIN_CHANGED)
        await ctx.deps.account_changed(user)
        return user


async def end_sessions_from(ctx: EventContext, user_id: str, reason: str) -> tuple[int, bool]:
    """End the user's sessions from an event; a caller signed in as that user is signed out and gets its ack.

    Return the refresh tokens revoked and whether the caller was signed out.
    """
    mine = ctx.principal is not None and ctx.principal.user_id == user_id
    if mine:
        await ctx.sign_out()  # before the push and the disconnects, which spare this socket
    return await end_sessions(ctx.deps, user_id, reason, skip_sid=ctx.sid), mine


async def end_sessions(deps: Deps, user_id: str, reason: str = ADMIN_CHANGED, *, skip_sid: str | None = None) -> int:
    """Refuse the user's tokens, revoke its refresh tokens, push and disconnect on every instance; return revoked."""
    revoked = await deps.accounts.end_sessions(user_id)
    room = user_room(user_id)
    await deps.emitter.push(SESSION_ENDED, SessionEnded(reason=reason), to=room, skip_sid=skip_sid)
    sids = {sid for sid, _ in deps.sio.manager.get_participants("/", room)}
    sids.update(await deps.services.presence.sockets_of(user_id))  # the registry knows other instances' too
    if skip_sid is not None:  # the caller: it signed itself out and gets its ack
        sids.discard(skip_sid)
    log.info("event=end_sessions user=%s reason=%s sockets=%d revoked=%d", user_id, reason, len(sids), revoked)
    for sid in sorted(sids):
        await deps.sio.disconnect(sid)  # a socket of another instance: sent to it over Redis
    return revoked
