"""Account events: register, login, refresh_token, logout, me, and the admin's user management."""

from __future__ import annotations

from typing import Any

from auth.accounts import principal_of
from auth.principal import Role
from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from handlers.rooms import user_room
from models.accounts import (
    CreateUserPayload,
    ListUsersPayload,
    LoginPayload,
    LogoutPayload,
    RefreshPayload,
    RegisterPayload,
    TokenPair,
    UpdateUserPayload,
    User,
    UserIdPayload,
)
from storage.cursor import decode_cursor, encode_cursor


async def setup(deps: Deps) -> EventRouter:
    """Register the account events."""
    router = EventRouter(deps)
    accounts = deps.accounts

    @router.on("register", RegisterPayload)
    async def register(ctx: EventContext, p: RegisterPayload) -> TokenPair:
        now = deps.clock()
        user = await accounts.create(p.email, p.phone, p.name, p.password, Role.CLIENT, now)
        pair = await accounts.issue(user, now)
        await ctx.sign_in(principal_of(pair.user))
        return pair

    @router.on("login", LoginPayload)
    async def login(ctx: EventContext, p: LoginPayload) -> TokenPair:
        pair = await accounts.login(p.email, p.phone, p.password, ctx.address, deps.clock())
        await ctx.sign_in(principal_of(pair.user))
        return pair

    @router.on("refresh_token", RefreshPayload)
    async def refresh_token(ctx: EventContext, p: RefreshPayload) -> TokenPair:
        pair = await accounts.refresh(p.refresh_token, deps.clock())
        await ctx.sign_in(principal_of(pair.user))
        return pair

    @router.on("logout", LogoutPayload, signed_in=True)
    async def logout(ctx: EventContext, p: LogoutPayload) -> dict[str, Any]:
        who = ctx.require()
        revoked = await accounts.logout(who.user_id, p.refresh_token, p.everywhere)
        await ctx.sign_out()
        return {"revoked": revoked}

    @router.on("me", signed_in=True)
    async def me(ctx: EventContext, _: Any) -> User:
        user = await accounts.store.get_user(ctx.require().user_id)
        return User.model_validate(user.model_dump(exclude={"password_hash"}))

    @router.on("create_user", CreateUserPayload, roles=(Role.ADMIN,))
    async def create_user(ctx: EventContext, p: CreateUserPayload) -> User:
        return await accounts.create(p.email, p.phone, p.name, p.password, p.role, deps.clock())

    @router.on("list_users", ListUsersPayload, roles=(Role.ADMIN,))
    async def list_users(ctx: EventContext, p: ListUsersPayload) -> dict[str, Any]:
        after = decode_cursor(p.cursor) if p.cursor else None
        users = await accounts.store.list_users(p.role, after, p.limit)
        cursor = encode_cursor(users[-1].created_at, users[-1].id) if len(users) == p.limit else None
        return {"users": users, "next_cursor": cursor}

    @router.on("update_user", UpdateUserPayload, roles=(Role.ADMIN,))
    async def update_user(ctx: EventContext, p: UpdateUserPayload) -> User:
        user = await accounts.store.update_user(p.user_id, p.name, p.role, p.active)
        if p.active is False or p.role is not None:
            await end_sessions(deps, user.id)
            await deps.account_changed(user)
        return user

    @router.on("deactivate_user", UserIdPayload, roles=(Role.ADMIN,))
    async def deactivate_user(ctx: EventContext, p: UserIdPayload) -> User:
        user = await accounts.store.update_user(p.user_id, None, None, False)
        await end_sessions(deps, user.id)
        await deps.account_changed(user)
        return user

    return router


async def end_sessions(deps: Deps, user_id: str, reason: str = "account changed by an administrator") -> None:
    """Revoke the user's refresh tokens, tell their sockets, and disconnect them on every instance."""
    await deps.accounts.store.revoke_all_refresh_tokens(user_id)
    room = user_room(user_id)
    await deps.emit("session_ended", {"reason": reason}, to=room)
    sids = {sid for sid, _ in deps.sio.manager.get_participants("/", room)}
    if deps.presence is not None:  # the registry knows the user's sockets on other instances too
        sids.update(await deps.presence.sockets_of(user_id))
    for sid in sorted(sids):
        await deps.sio.disconnect(sid)  # a socket of another instance: sent to it over Redis
