"""Delivery channels behind one interface: SMTP email, Twilio-style HTTP SMS, and a log SMS for development."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import aiohttp
import aiosmtplib

from config import Settings
from models.notify import Channel, OutboxMessage

log = logging.getLogger("deskline.notify")


class DeliveryError(Exception):
    """A send that did not go through; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    """Hands one outbox message to the outside world."""

    async def send(self, message: OutboxMessage) -> str | None:
        """Deliver ``message``; return the provider's id for it, or raise ``DeliveryError``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class SmtpEmail:
    """Email through an SMTP server (aiosmtplib), plain text with an HTML alternative."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def build(self, message: OutboxMessage) -> EmailMessage:
        """Return the MIME message for an outbox email."""
        mail = EmailMessage()
        mail["From"] = self._settings.smtp_from
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = f"<{message.id}@deskline>"
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail

    async def send(self, message: OutboxMessage) -> str | None:
        """Send one email; 5xx answers are permanent failures, everything else is retried."""
        s = self._settings
        implicit_tls = s.smtp_port == 465
        try:
            await aiosmtplib.send(
                self.build(message),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user,
                password=s.smtp_password,
                use_tls=implicit_tls,
                start_tls=False if implicit_tls else s.smtp_starttls,
                timeout=s.notify_send_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc}", permanent=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"smtp {exc.code}: {exc.message}", permanent=500 <= exc.code < 600) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"smtp: {exc.__class__.__name__}: {exc}") from exc
        return f"<{message.id}@deskline>"

    async def close(self) -> None:
        """Nothing to release: each send opens its own connection."""


class TwilioSms:
    """SMS through Twilio's Messages REST API (or anything with its shape, e.g. a test double)."""

    def __init__(self, base_url: str, account_sid: str, auth_token: str, sender: str, timeout: float) -> None:
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._headers = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token)}
        self._from = sender
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: OutboxMessage) -> str | None:
        """POST the message; 429 and 5xx are retried, other 4xx are permanent."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        form = {"To": message.recipient, "From": self._from, "Body": message.text}
        try:
            async with self._session.post(self._url, data=form, headers=self._headers) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    permanent = resp.status < 500 and resp.status != 429
                    raise DeliveryError(f"sms provider {resp.status}: {text[:200]}", permanent=permanent)
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"sms provider: {exc.__class__.__name__}: {exc}") from exc
        return str(body.get("sid")) if isinstance(body, dict) and body.get("sid") else None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class LogSms:
    """Development SMS: writes the message to the log instead of sending it."""

    async def send(self, message: OutboxMessage) -> str | None:
        """Log the SMS (number and text) and report it delivered."""
        log.warning("event=sms_logged to=%s kind=%s body=%r", message.recipient, message.kind, message.text)
        return f"log-{message.id}"

    async def close(self) -> None:
        """Nothing to release."""


def make_senders(settings: Settings) -> tuple[dict[Channel, Sender], dict[Channel, str]]:
    """Return the configured senders and, for each channel that is off, why."""
    senders: dict[Channel, Sender] = {}
    off: dict[Channel, str] = {}
    if not settings.smtp_host:
        off[Channel.EMAIL] = "DESKLINE_SMTP_HOST is not set"
    elif bool(settings.smtp_user) != bool(settings.smtp_password):
        off[Channel.EMAIL] = "set both DESKLINE_SMTP_USER and DESKLINE_SMTP_PASSWORD, or neither"
    else:
        senders[Channel.EMAIL] = SmtpEmail(settings)
    provider = (settings.sms_provider or "").strip().lower()
    if provider == "log":
        senders[Channel.SMS] = LogSms()
    elif provider == "twilio":
        missing = [n for n in ("sms_account_sid", "sms_auth_token", "sms_from") if not getattr(settings, n)]
        if missing:
            off[Channel.SMS] = "missing " + ", ".join(f"DESKLINE_{n.upper()}" for n in missing)
        else:
            senders[Channel.SMS] = TwilioSms(
                settings.sms_base_url,
                settings.sms_account_sid or "",
                settings.sms_auth_token or "",
                settings.sms_from or "",
                settings.notify_send_timeout_seconds,
            )
    elif provider:
        off[Channel.SMS] = f"unknown DESKLINE_SMS_PROVIDER {provider!r} (use twilio or log)"
    else:
        off[Channel.SMS] = "DESKLINE_SMS_PROVIDER is not set"
    return senders, off
