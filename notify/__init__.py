"""Notifications every domain sends: in-app (stored, pushed live), email and SMS through a durable outbox.

Domains call ``await deps.notifier.notify(user_id, kind, title, body, data)``; the service lives in
``notify/service.py``, the outbox worker in ``notify/outbox.py``, the channels in ``notify/senders.py``.
"""

from __future__ import annotations

from typing import Any, Protocol


class Notifier(Protocol):
    """What domains call to tell a user something."""

    async def notify(self, user_id: str, kind: str, title: str, body: str, data: dict[str, Any] | None = None) -> Any:
        """Tell ``user_id`` about an event of ``kind`` on the channels they allow (never raises)."""
        ...

    async def email(
        self, to: str, subject: str, text: str, html: str | None = None, *, kind: str, user_id: str | None = None
    ) -> Any:
        """Queue an email to any address, e.g. a customer without an account (None when email is off)."""
        ...
