"""Notification events: the caller's in-app notifications and preferences, admin broadcast and outbox view."""

from __future__ import annotations

from typing import Any

from handlers.context import Deps, EventContext
from handlers.events import EventRouter
from models.accounts import User
from models.notify import (
    Channel,
    ListNotificationsPayload,
    ListOutboxPayload,
    MarkReadPayload,
    OutboxEntry,
    SendNotificationPayload,
    SetPrefsPayload,
)
from models.roles import Role
from models.rooms import user_room
from notify.service import NotifyService
from storage.notify import decode_position, encode_position

BROADCAST_PAGE = 100


async def setup(deps: Deps) -> EventRouter:
    """Start the notification service's outbox worker and register the notification events."""
    service = deps.notifier
    if not isinstance(service, NotifyService):
        raise TypeError("the notification events need deps.notifier to be a NotifyService")
    await service.start()
    deps.shutdown_hooks.append(service.stop)
    store = service.store
    router = EventRouter(deps)

    @router.on("list_notifications", ListNotificationsPayload, signed_in=True)
    async def list_notifications(ctx: EventContext, p: ListNotificationsPayload) -> dict[str, Any]:
        who = ctx.require()
        after = decode_position(p.cursor) if p.cursor else None
        page = await store.list_notifications(who.user_id, after, p.limit + 1, p.unread_only)
        more, page = len(page) > p.limit, page[: p.limit]
        cursor = encode_position((page[-1].read, page[-1].created_at, page[-1].id)) if more else None
        return {"notifications": page, "next_cursor": cursor, "unread": await store.count_unread(who.user_id)}

    @router.on("mark_notifications_read", MarkReadPayload, signed_in=True)
    async def mark_notifications_read(ctx: EventContext, p: MarkReadPayload) -> dict[str, Any]:
        who = ctx.require()
        marked = await store.mark_read(who.user_id, p.ids, deps.clock())
        result = {"marked": marked, "unread": await store.count_unread(who.user_id)}
        if marked:
            await ctx.emit("notifications_read", {"ids": p.ids, "all": p.all, **result}, to=user_room(who.user_id))
        return result

    @router.on("get_notification_prefs", signed_in=True)
    async def get_notification_prefs(ctx: EventContext, _: Any) -> dict[str, Any]:
        return (await store.get_prefs(ctx.require().user_id)).effective()

    @router.on("set_notification_prefs", SetPrefsPayload, signed_in=True)
    async def set_notification_prefs(ctx: EventContext, p: SetPrefsPayload) -> dict[str, Any]:
        who = ctx.require()
        prefs = (await store.get_prefs(who.user_id)).merged(p.channels, p.kinds)
        await store.set_prefs(who.user_id, prefs, deps.clock())
        return prefs.effective()

    @router.on("send_notification", SendNotificationPayload, roles=(Role.ADMIN,))
    async def send_notification(ctx: EventContext, p: SendNotificationPayload) -> dict[str, Any]:
        recipients = 0
        for user in await _audience(deps, p):
            if user.active:
                await service.notify(user.id, p.kind, p.title, p.body, p.data, channels=p.channels)
                recipients += 1
        return {"recipients": recipients, "channels": p.channels}

    @router.on("list_outbox", ListOutboxPayload, roles=(Role.ADMIN,))
    async def list_outbox(ctx: EventContext, p: ListOutboxPayload) -> dict[str, Any]:
        messages = await store.list_outbox(p.status, p.limit)
        entries = [OutboxEntry.model_validate(m.model_dump()) for m in messages]
        return {"messages": entries, "channels": {c.value: service.is_on(c) for c in Channel}}

    return router


async def _audience(deps: Deps, p: SendNotificationPayload) -> list[User]:
    """Return the broadcast's users; every listed id must exist (``NotFound`` before anything is sent)."""
    store = deps.accounts.store
    if p.to.user_ids is not None:
        return [await store.get_user(user_id) for user_id in dict.fromkeys(p.to.user_ids)]
    users: list[User] = []
    after = None
    while True:
        page = await store.list_users(p.to.role, after, BROADCAST_PAGE)
        users += page
        if len(page) < BROADCAST_PAGE:
            return users
        after = (page[-1].created_at, page[-1].id)
