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
                raise DeliveryError(f"DESKLINE_SMTP_CA_FILE {ca_file}: {exc.__class__.__name__}: {exc}") from exc
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


def _permanent_code(code: int) -> bool:
    return 500 <= code < 600 and code not in SMTP_CONFIG_CODES


def smtp_failure(exc: BaseException) -> DeliveryError:
    """Return the delivery error for a failed SMTP send: permanent only when the server refused this message.

    A recipient refused with 5xx (550, 553, ...) or a message refused after DATA with 5xx is permanent.
    Everything before that concerns every message alike and is retried: connection refused, TLS handshake
    or certificate errors, an unreadable CA file, the greeting, EHLO, STARTTLS, AUTH (535 wrong password,
    534, 538) and MAIL FROM (530 authentication required, our From address refused), plus every 4xx.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        return DeliveryError(f"recipient refused: {detail}", permanent=bool(codes) and all(map(_permanent_code, codes)))
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return DeliveryError(f"smtp {exc.code}: {exc.message}", permanent=_permanent_code(exc.code))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return DeliveryError(f"smtp {exc.code}: {exc.message}")
    return DeliveryError(f"smtp: {exc.__class__.__name__}: {exc}")


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
