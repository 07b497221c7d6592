"""The notification use cases: in-app (stored and pushed live), email and SMS (through the durable outbox)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from config import Settings
from models.accounts import User
from models.clock import Clock
from models.common import to_jsonable
from models.errors import NotFound
from models.notify import (
    NOTIFICATION,
    NOTIFICATIONS_READ,
    Channel,
    ChannelSwitches,
    Kind,
    Notification,
    NotificationsRead,
    OutboxEntry,
    OutboxMessage,
    OutboxStatus,
    SendNotificationPayload,
)
from models.rooms import user_room
from notify.outbox import OutboxWorker
from notify.senders import make_senders
from notify.templates import render_html, render_text
from services.emitter import Emitter
from storage.accounts import AccountStore
from storage.database import new_id
from storage.notify import NotifyStore, decode_position, encode_position

log = logging.getLogger("deskline.notify")

SMS_MAX_CHARS = 600
BROADCAST_PAGE = 100  # users read per page when a broadcast goes to a role


class NotifyService:
    """What domains call to tell people things; sending never blocks the caller on the outside world."""

    def __init__(
        self,
        store: NotifyStore,
        users: AccountStore,
        emitter: Emitter,
        settings: Settings,
        clock: Clock,
    ) -> None:
        senders, self.off = make_senders(settings)
        self.store = store
        self.users = users
        self.settings = settings
        self.clock = clock
        self.emitter = emitter
        self.worker = OutboxWorker(
            store,
            senders,
            clock,
            poll_seconds=settings.notify_poll_seconds,
            backoff_seconds=settings.notify_backoff_seconds,
            backoff_max_seconds=settings.notify_backoff_max_seconds,
            max_attempts=settings.notify_max_attempts,
            max_age_seconds=settings.notify_max_age_hours * 3600,
            lease_seconds=settings.notify_lease_seconds,
            send_timeout_seconds=settings.notify_send_timeout_seconds,
            batch_size=settings.notify_batch_size,
        )

    async def inbox(self, user_id: str, cursor: str | None, limit: int, unread_only: bool) -> dict[str, Any]:
        """Return ``{notifications, next_cursor, unread}``: a page of the user's in-app notifications, unread first."""
        after = decode_position(cursor) if cursor else None
        page = await self.store.list_notifications(user_id, after, limit + 1, unread_only)
        more, page = len(page) > limit, page[:limit]
        following = encode_position((page[-1].read, page[-1].created_at, page[-1].id)) if more else None
        return {"notifications": page, "next_cursor": following, "unread": await self.store.count_unread(user_id)}

    async def mark_read(self, user_id: str, ids: list[str] | None, everything: bool) -> dict[str, int]:
        """Mark the user's notifications ``ids`` (all when None) read; tell the user's tabs when something changed."""
        marked = await self.store.mark_read(user_id, ids, self.clock())
        result = {"marked": marked, "unread": await self.store.count_unread(user_id)}
        if marked:
            read = NotificationsRead(ids=ids, all=everything, **result)
            await self.emitter.push(NOTIFICATIONS_READ, read, to=user_room(user_id))
        return result

    async def prefs(self, user_id: str) -> dict[str, Any]:
        """Return the user's effective channel and per-kind preferences."""
        return (await self.store.get_prefs(user_id)).effective()

    async def set_prefs(
        self, user_id: str, channels: ChannelSwitches, kinds: dict[str, ChannelSwitches | None]
    ) -> dict[str, Any]:
        """Merge ``channels`` and ``kinds`` into the user's preferences; return the effective ones."""
        prefs = (await self.store.get_prefs(user_id)).merged(channels, kinds)
        await self.store.set_prefs(user_id, prefs, self.clock())
        return prefs.effective()

    async def broadcast(self, p: SendNotificationPayload) -> int:
        """Send an administrator's notification to its audience's active users; return how many it went to.

        Every listed user id must exist (``NotFound`` before anything is sent).
        """
        recipients = 0
        for user in await self._audience(p):
            if user.active:
                await self.notify(user.id, p.kind, p.title, p.body, p.data, channels=p.channels)
                recipients += 1
        return recipients

    async def _audience(self, p: SendNotificationPayload) -> list[User]:
        if p.to.user_ids is not None:
            return [await self.users.get_user(user_id) for user_id in dict.fromkeys(p.to.user_ids)]
        users: list[User] = []
        after = None
        while True:
            page = await self.users.list_users(p.to.role, after, BROADCAST_PAGE)
            users += page
            if len(page) < BROADCAST_PAGE:
                return users
            after = (page[-1].created_at, page[-1].id)

    async def outbox(self, status: OutboxStatus | None, limit: int) -> dict[str, Any]:
        """Return ``{messages, channels}``: the newest outbox entries (of ``status``) and which channels are on."""
        messages = await self.store.list_outbox(status, limit)
        entries = [OutboxEntry.model_validate(m.model_dump()) for m in messages]
        return {"messages": entries, "channels": {c.value: self.is_on(c) for c in Channel}}

    def is_on(self, channel: Channel) -> bool:
        """Return whether ``channel`` can deliver on this server."""
        return channel == Channel.IN_APP or channel in self.worker.senders

    async def start(self) -> None:
        """Say which channels are on, and start draining the outbox when email or SMS is."""
        states = " ".join(
            f"{c.value}=on" if self.is_on(c) else f"{c.value}=off({self.off.get(c, 'not configured')})" for c in Channel
        )
        log.info("event=notify_channels %s", states)
        self.worker.start()

    async def stop(self) -> None:
        """Stop the outbox worker after the sends in flight."""
        await self.worker.stop()

    async def outbox_backlog(self) -> tuple[int, float]:
        """Return how many emails and SMS wait (or are being sent) and the age in seconds of the oldest one."""
        depth, oldest = await self.store.outbox_backlog()
        return depth, max(0.0, (self.clock() - oldest).total_seconds()) if oldest is not None else 0.0

    async def notify(
        self,
        user_id: str,
        kind: Kind | str,
        title: str,
        body: str,
        data: dict[str, Any] | None = None,
        *,
        channels: Iterable[Channel] | None = None,
    ) -> Notification | None:
        """Tell ``user_id`` about ``kind`` on the channels they allow; failures are logged, never raised."""
        try:
            return await self._notify(user_id, str(kind), title, body, to_jsonable(data or {}), channels)
        except Exception:
            log.exception("event=notify_error user=%s kind=%s", user_id, kind)
            return None

    async def _notify(
        self, user_id: str, kind: str, title: str, body: str, data: dict[str, Any], channels: Iterable[Channel] | None
    ) -> Notification | None:
        try:
            user = await self.users.get_user(user_id)
        except NotFound:
            log.warning("event=notify_skipped user=%s kind=%s reason=unknown_user", user_id, kind)
            return None
        if not user.active:
            return None
        prefs = await self.store.get_prefs(user_id)
        wanted = [c for c in (channels if channels is not None else Channel) if prefs.allows(kind, c)]
        note: Notification | None = None
        if Channel.IN_APP in wanted:
            note = Notification(
                id=new_id(), user_id=user_id, kind=kind, title=title, body=body, data=data, created_at=self.clock()
            )
            await self.store.add_notification(note)
            await self.emitter.push(NOTIFICATION, note, to=user_room(user_id))
        if Channel.EMAIL in wanted and user.email:
            values = {"title": title, "body": body, "base_url": self.settings.public_base_url, "kind": kind}
            text, html = render_text("notification", **values), render_html("notification", **values)
            await self.email(user.email, title, text, html, kind=kind, user_id=user_id)
        if Channel.SMS in wanted and user.phone:
            await self.sms(user.phone, f"{title}: {body}", kind=kind, user_id=user_id)
        return note

    async def email(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        *,
        kind: Kind | str,
        user_id: str | None = None,
        sensitive: bool = False,
    ) -> OutboxMessage | None:
        """Queue an email to any address (e.g. a customer without an account); None when email is off."""
        return await self._enqueue(Channel.EMAIL, to, subject, text, html, kind, user_id, sensitive)

    async def sms(
        self, to: str, text: str, *, kind: Kind | str, user_id: str | None = None, sensitive: bool = False
    ) -> OutboxMessage | None:
        """Queue an SMS to an E.164 number; None when SMS is off."""
        return await self._enqueue(Channel.SMS, to, "", text[:SMS_MAX_CHARS], None, kind, user_id, sensitive)

    async def _enqueue(
        self,
        channel: Channel,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        kind: Kind | str,
        user_id: str | None,
        sensitive: bool,
    ) -> OutboxMessage | None:
        if not self.is_on(channel):
            log.info("event=notify_skipped channel=%s kind=%s reason=channel_off", channel, kind)
            return None
        now = self.clock()
        message = OutboxMessage(
            id=new_id(),
            channel=channel,
            recipient=to,
            user_id=user_id,
            kind=str(kind),
            subject=subject,
            text=text,
            html=html,
            sensitive=sensitive,
            next_try_at=now,
            created_at=now,
        )
        await self.store.enqueue(message)
        self.worker.wake()
        return message
