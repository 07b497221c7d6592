"""Notification events: the caller's in-app notifications and preferences, admin broadcast and outbox view."""

from __future__ import annotations

from typing import Any

from handlers.access import ADMIN, SIGNED_IN
from handlers.context import EventContext
from handlers.events import EventRouter, NoPayload
from models.accounts import User
from models.notify import (
    NOTIFICATIONS_READ,
    Channel,
    ListNotificationsPayload,
    ListOutboxPayload,
    MarkReadPayload,
    NotificationsRead,
    OutboxEntry,
    SendNotificationPayload,
    SetPrefsPayload,
)
from models.rooms import user_room
from services.bundle import Services
from storage.accounts import AccountStore
from storage.notify import decode_position, encode_position

BROADCAST_PAGE = 100


def register(router: EventRouter, services: Services) -> None:
    """Declare the notification events (the outbox worker is started by ``wiring.py``)."""
    service, clock, emitter = services.notify, services.clock, services.emitter
    store, users = service.store, services.accounts.store

    @router.on("list_notifications", ListNotificationsPayload, access=SIGNED_IN)
    async def list_notifications(ctx: EventContext, p: ListNotificationsPayload) -> dict[str, Any]:
        who = ctx.require()
        after = decode_position(p.cursor) if p.cursor else None
        page = await store.list_notifications(who.user_id, after, p.limit + 1, p.unread_only)
        more, page = len(page) > p.limit, page[: p.limit]
        cursor = encode_position((page[-1].read, page[-1].created_at, page[-1].id)) if more else None
        return {"notifications": page, "next_cursor": cursor, "unread": await store.count_unread(who.user_id)}

    @router.on("mark_notifications_read", MarkReadPayload, access=SIGNED_IN)
    async def mark_notifications_read(ctx: EventContext, p: MarkReadPayload) -> dict[str, Any]:
        who = ctx.require()
        marked = await store.mark_read(who.user_id, p.ids, clock())
        result = {"marked": marked, "unread": await store.count_unread(who.user_id)}
        if marked:
            read = NotificationsRead(ids=p.ids, all=p.all, **result)
            await emitter.push(NOTIFICATIONS_READ, read, to=user_room(who.user_id))
        return result

    @router.on("get_notification_prefs", NoPayload, access=SIGNED_IN)
    async def get_notification_prefs(ctx: EventContext, _: NoPayload) -> dict[str, Any]:
        return (await store.get_prefs(ctx.require().user_id)).effective()

    @router.on("set_notification_prefs", SetPrefsPayload, access=SIGNED_IN)
    async def set_notification_prefs(ctx: EventContext, p: SetPrefsPayload) -> dict[str, Any]:
        who = ctx.require()
        prefs = (await store.get_prefs(who.user_id)).merged(p.channels, p.kinds)
        await store.set_prefs(who.user_id, prefs, clock())
        return prefs.effective()

    @router.on("send_notification", SendNotificationPayload, access=ADMIN)
    async def send_notification(ctx: EventContext, p: SendNotificationPayload) -> dict[str, Any]:
        recipients = 0
        for user in await _audience(users, p):
            if user.active:
                await service.notify(user.id, p.kind, p.title, p.body, p.data, channels=p.channels)
                recipients += 1
        return {"recipients": recipients, "channels": p.channels}

    @router.on("list_outbox", ListOutboxPayload, access=ADMIN)
    async def list_outbox(ctx: EventContext, p: ListOutboxPayload) -> dict[str, Any]:
        messages = await store.list_outbox(p.status, p.limit)
        entries = [OutboxEntry.model_validate(m.model_dump()) for m in messages]
        return {"messages": entries, "channels": {c.value: service.is_on(c) for c in Channel}}


async def _audience(store: AccountStore, p: SendNotificationPayload) -> list[User]:
    """Return the broadcast's users; every listed id must exist (``NotFound`` before anything is sent)."""
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
