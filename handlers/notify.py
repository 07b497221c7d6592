"""Notification events: the caller's in-app notifications and preferences, admin broadcast and outbox view."""

from __future__ import annotations

from typing import Any

from handlers.access import ADMIN, SIGNED_IN
from handlers.context import EventContext
from handlers.events import EventRouter, NoPayload
from models.notify import (
    ListNotificationsPayload,
    ListOutboxPayload,
    MarkReadPayload,
    SendNotificationPayload,
    SetPrefsPayload,
)
from services.bundle import Services


def register(router: EventRouter, services: Services) -> None:
    """Declare the notification events (the outbox worker is started by ``wiring.py``)."""
    service = services.notify

    @router.on("list_notifications", ListNotificationsPayload, access=SIGNED_IN)
    async def list_notifications(ctx: EventContext, p: ListNotificationsPayload) -> dict[str, Any]:
        return await service.inbox(ctx.require().user_id, p.cursor, p.limit, p.unread_only)

    @router.on("mark_notifications_read", MarkReadPayload, access=SIGNED_IN)
    async def mark_notifications_read(ctx: EventContext, p: MarkReadPayload) -> dict[str, Any]:
        return await service.mark_read(ctx.require().user_id, p.ids, p.all)

    @router.on("get_notification_prefs", NoPayload, access=SIGNED_IN)
    async def get_notification_prefs(ctx: EventContext, _: NoPayload) -> dict[str, Any]:
        return await service.prefs(ctx.require().user_id)

    @router.on("set_notification_prefs", SetPrefsPayload, access=SIGNED_IN)
    async def set_notification_prefs(ctx: EventContext, p: SetPrefsPayload) -> dict[str, Any]:
        return await service.set_prefs(ctx.require().user_id, p.channels, p.kinds)

    @router.on("send_notification", SendNotificationPayload, access=ADMIN)
    async def send_notification(ctx: EventContext, p: SendNotificationPayload) -> dict[str, Any]:
        return {"recipients": await service.broadcast(p), "channels": p.channels}

    @router.on("list_outbox", ListOutboxPayload, access=ADMIN)
    async def list_outbox(ctx: EventContext, p: ListOutboxPayload) -> dict[str, Any]:
        return await service.outbox(p.status, p.limit)
