"""Delivery channels behind one interface: SMTP email, Twilio-style HTTP SMS, and a log SMS for development."""

from __future__ import annotations

import asyncio
import logging
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import aiohttp
import aiosmtplib

from config import Settings
from models.notify import Channel, OutboxMessage

log = logging.getLogger("deskline.notify")


class DeliveryError(Exception):
    """A send that did not go through.

    ``permanent``: the message itself was refused; it is not retried. ``unavailable``: the channel is down or
    misconfigured (no connection, TLS, login, provider outage); the try does not count towards the message's
    attempts. Neither: this message failed for now (a 4xx about its recipient or content); retried, and counted.
    """

    def __init__(self, message: str, *, permanent: bool = False, unavailable: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unavailable = unavailable and not permanent


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
        self._tls: ssl.SSLContext | None = None

    async def tls_context(self) -> ssl.SSLContext:
        """Return the client TLS context: verify the server against ``SMTP_CA_FILE``, else the system trust store.

        Read at the first send that needs it and kept; a file that cannot be read fails the send (it is retried).
        """
        if self._tls is None:
            ca_file = self._settings.smtp_ca_file
            try:
                self._tls = await asyncio.to_thread(ssl.create_default_context, cafile=ca_file)
            except (OSError, ValueError) as exc:
                message = f"DESKLINE_SMTP_CA_FILE {ca_file}: {exc.__class__.__name__}: {exc}"
                raise DeliveryError(message, unavailable=True) from exc
        return self._tls

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
        """Send one email over plain SMTP, STARTTLS or implicit TLS; see ``smtp_failure`` for what is retried."""
        s = self._settings
        implicit_tls = s.smtp_implicit_tls()
        tls = await self.tls_context() if implicit_tls or s.smtp_starttls else None
        try:
            await aiosmtplib.send(
                self.build(message),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user,
                password=s.smtp_password,
                use_tls=implicit_tls,
                start_tls=False if implicit_tls else s.smtp_starttls,
                tls_context=tls,
                timeout=s.notify_send_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise smtp_failure(exc) from exc
        return f"<{message.id}@deskline>"

    async def close(self) -> None:
        """Nothing to release: each send opens its own connection."""


# 5xx answers that mean "log in (better)" or "encrypt first": the server's configuration or ours, not the message.
SMTP_CONFIG_CODES = frozenset({530, 534, 535, 538})


def _message_failure(code: int, detail: str) -> DeliveryError:
    """Return the error of a reply about this message (to RCPT or DATA): 5xx permanent, 4xx counted."""
    if code in SMTP_CONFIG_CODES:
        return DeliveryError(detail, unavailable=True)
    return DeliveryError(detail, permanent=500 <= code < 600)


def smtp_failure(exc: BaseException) -> DeliveryError:
    """Return the delivery error for a failed SMTP send: about this message only after RCPT or DATA.

    A reply to RCPT (this recipient) or after DATA (this message) is about the message: 5xx (550, 553, ...) is
    permanent, 4xx (450 mailbox busy, ...) is retried and counts towards the attempts. Everything before that
    fails every message alike, so the channel is unavailable (retried without counting): connection refused,
    a dropped connection, TLS handshake or certificate errors, an unreadable CA file, the greeting, EHLO,
    STARTTLS, AUTH (535 wrong password, 534, 538) and MAIL FROM (530 authentication required, our From address
    refused, 4xx); so are 530, 534, 535 and 538 whenever they come.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        detail = "recipient refused: " + "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        failures = [_message_failure(r.code, detail) for r in exc.recipients]
        if any(f.unavailable for f in failures):
            return DeliveryError(detail, unavailable=True)
        return DeliveryError(detail, permanent=bool(failures) and all(f.permanent for f in failures))
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return _message_failure(exc.code, f"smtp {exc.code}: {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"smtp {exc.code}: {exc.message}", unavailable=True)
    return DeliveryError(f"smtp: {exc.__class__.__name__}: {exc}", unavailable=True)


# HTTP answers of the SMS provider that fail every message alike: credentials, account, URL, rate limit.
SMS_UNAVAILABLE_STATUSES = frozenset({401, 403, 404, 408, 429})


def sms_failure(status: int, text: str) -> DeliveryError:
    """Return the delivery error for an SMS provider's HTTP error answer.

    5xx and 401, 403, 404, 408, 429 (wrong credentials or URL, suspended account, rate limit) mean the channel
    is unavailable; any other 4xx (400: a bad number or body) refuses this message for good.
    """
    unavailable = status >= 500 or status in SMS_UNAVAILABLE_STATUSES
    return DeliveryError(f"sms provider {status}: {text[:200]}", permanent=not unavailable, unavailable=unavailable)


class TwilioSms:
    """SMS through Twilio's Messages REST API (or anything with its shape, e.g. a test double)."""

    def __init__(self, base_url: str, account_sid: str, auth_token: str, sender: str, timeout: float) -> None:
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._headers = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token)}
        self._from = sender
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: OutboxMessage) -> str | None:
        """POST the message; see ``sms_failure`` for what is retried; no answer means the channel is unavailable."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        form = {"To": message.recipient, "From": self._from, "Body": message.text}
        try:
            async with self._session.post(self._url, data=form, headers=self._headers) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise sms_failure(resp.status, text)
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"sms provider: {exc.__class__.__name__}: {exc}", unavailable=True) from exc
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
