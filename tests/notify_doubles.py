"""Real stand-ins for the outside world of notifications: an SMTP server and a Twilio-shaped SMS API."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import ssl
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from models.accounts import User
from models.notify import OutboxStatus
from models.roles import Role
from tests.helpers import Client, RunningServer, free_port

SMS_SID = "AC0123456789"
SMS_TOKEN = "sms-test-token"
SMS_FROM = "+15550001111"
PASSWORD = "correct horse battery"


class _Waitable:
    def __init__(self) -> None:
        self._changed = asyncio.Condition()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait(self, ready: Callable[[], bool], within: float) -> None:
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(ready)


@dataclass(frozen=True)
class LocalCA:
    """A certificate authority made for one test, and the server context of a certificate it signed."""

    ca_file: Path  # PEM of the CA: what DESKLINE_SMTP_CA_FILE points at
    server_context: ssl.SSLContext  # certificate for 127.0.0.1 and localhost


def make_local_ca(folder: Path) -> LocalCA:
    """Create a fresh CA (trusted by nothing) and a server certificate for 127.0.0.1 signed by it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    folder.mkdir(parents=True, exist_ok=True)
    ca_file = folder / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return LocalCA(ca_file, context)


class MailCatcher(_Waitable):
    """An aiosmtpd SMTP server on a free port that keeps every message it accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.fail_next = 0
        self.step_delay = 0.0  # seconds each of MAIL, RCPT and DATA takes to answer
        self.transactions = 0
        self.credentials: tuple[str, str] | None = None
        self.logins: list[tuple[str, str, bool]] = []  # (mechanism, login, accepted)
        self.refuse_mail: str | None = None  # e.g. "538 5.7.11 Encryption required": answer to every MAIL FROM
        self.refuse_rcpt: dict[str, str] = {}  # address -> answer, e.g. "550 5.1.1 No such user"
        self.encrypted: list[bool] = []  # per accepted message: did it arrive over TLS
        self.tls: Literal["starttls", "implicit"] | None = None
        self.tls_context: ssl.SSLContext | None = None
        self.port = free_port()
        self._server: asyncio.Server | None = None

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Count a transaction's start and take ``step_delay`` to answer."""
        self.transactions += 1
        await asyncio.sleep(self.step_delay)
        if self.refuse_mail:
            return self.refuse_mail
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Take one recipient after ``step_delay``, unless ``refuse_rcpt`` has an answer for it."""
        await asyncio.sleep(self.step_delay)
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Accept (or, while ``fail_next`` lasts, temporarily refuse) one message, after ``step_delay``."""
        await asyncio.sleep(self.step_delay)
        if self.fail_next > 0:
            self.fail_next -= 1
            return "451 4.3.0 try again later"
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        transport = server.transport
        self.encrypted.append(transport is not None and transport.get_extra_info("ssl_object") is not None)
        await self._notify()
        return "250 OK"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        """Check a login against ``credentials`` and remember who tried."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (login, password) == self.credentials
        self.logins.append((mechanism, login, ok))
        return AuthResult(success=ok, handled=False)

    def _smtp(self) -> SMTP:
        starttls: dict[str, Any] = {}
        if self.tls == "starttls":  # STARTTLS is offered and required before MAIL and AUTH
            starttls = {"tls_context": self.tls_context, "require_starttls": True}
        if self.credentials is None:
            return SMTP(self, hostname="catcher", **starttls)
        with warnings.catch_warnings():  # plain-text AUTH (no STARTTLS) is what some of these tests want
            warnings.simplefilter("ignore")
            return SMTP(
                self,
                hostname="catcher",
                auth_required=True,
                auth_require_tls=self.tls == "starttls",
                authenticator=self._authenticate,
                **starttls,
            )

    async def start(
        self,
        credentials: tuple[str, str] | None = None,
        *,
        tls: Literal["starttls", "implicit"] | None = None,
        context: ssl.SSLContext | None = None,
    ) -> MailCatcher:
        """Listen on 127.0.0.1, with ``tls`` (and the server ``context``) if given; with ``credentials``,
        every client must log in with them (SMTP AUTH; after STARTTLS when ``tls="starttls"``)."""
        assert (tls is None) == (context is None), "a TLS mode needs a server context and vice versa"
        self.credentials, self.tls, self.tls_context = credentials, tls, context
        loop = asyncio.get_running_loop()
        implicit = context if tls == "implicit" else None
        self._server = await loop.create_server(self._smtp, "127.0.0.1", self.port, ssl=implicit)
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_count(self, count: int, within: float = 10) -> list[EmailMessage]:
        """Return the messages once at least ``count`` arrived."""
        await self._wait(lambda: len(self.messages) >= count, within)
        return list(self.messages)

    def settings(self) -> dict[str, Any]:
        """Settings that point a Deskline server at this catcher."""
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_starttls": False,
            "smtp_from": "Deskline <desk@test>",
        }


async def wait_status(
    server: RunningServer, message_id: str, status: OutboxStatus, within: float = 10, tries: int = 0
) -> None:
    """Wait until the outbox message reaches ``status`` after at least ``tries`` tries (attempts + deferrals)."""
    store = server.deps.notifier.store
    async with asyncio.timeout(within):
        while True:
            message = await store.get_message(message_id)
            if message is not None and message.status == status and message.attempts + message.deferrals >= tries:
                return
            await asyncio.sleep(0.02)


def body_of(message: EmailMessage, subtype: str = "plain") -> str:
    """Return the text (or html) part of a caught message."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content()).replace("\r\n", "\n")


class FakeSms(_Waitable):
    """An aiohttp app with the shape of Twilio's Messages API; fails on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[dict[str, str]] = []
        self.delivered: list[dict[str, str]] = []
        self.abandoned: list[dict[str, str]] = []
        self.unauthorized = 0  # requests refused with 401 (wrong account id or token)
        self.fail_next = 0
        self.fail_status = 503
        self.delay = 0.0
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL (what DESKLINE_SMS_BASE_URL is set to)."""
        return f"http://127.0.0.1:{self.port}"

    async def _messages(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{SMS_SID}:{SMS_TOKEN}".encode()).decode()
        if request.match_info["sid"] != SMS_SID or request.headers.get("Authorization") != expected:
            self.unauthorized += 1
            await self._notify()
            return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.attempts.append(form)
        if self.fail_next > 0:
            self.fail_next -= 1
            await self._notify()
            return web.json_response({"message": "provider down"}, status=self.fail_status)
        if self.delay:
            await asyncio.sleep(self.delay)
            if request.transport is None or request.transport.is_closing():
                self.abandoned.append(form)  # the sender hung up before the answer
                await self._notify()
                return web.json_response({"message": "client went away"}, status=499)
        self.delivered.append(form)
        await self._notify()
        return web.json_response({"sid": f"SM{len(self.delivered):030d}", "status": "queued"}, status=201)

    async def start(self) -> FakeSms:
        """Listen on 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._messages)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_delivered(self, count: int, within: float = 10) -> list[dict[str, str]]:
        """Return the delivered messages once there are at least ``count``."""
        await self._wait(lambda: len(self.delivered) >= count, within)
        return list(self.delivered)

    async def wait_delivered_matching(
        self, match: Callable[[dict[str, str]], bool], within: float = 10
    ) -> dict[str, str]:
        """Return the first delivered message ``match`` accepts, once there is one."""
        await self._wait(lambda: any(match(d) for d in self.delivered), within)
        return next(d for d in self.delivered if match(d))

    async def wait_attempts(self, count: int, within: float = 10) -> list[dict[str, str]]:
        """Return every request received once there are at least ``count``."""
        await self._wait(lambda: len(self.attempts) >= count, within)
        return list(self.attempts)

    async def wait_for_abandoned(self, count: int, within: float = 10) -> list[dict[str, str]]:
        """Return the requests whose sender hung up before the answer, once there are at least ``count``."""
        await self._wait(lambda: len(self.abandoned) >= count, within)
        return list(self.abandoned)

    def settings(self) -> dict[str, Any]:
        """Settings that point a Deskline server at this provider."""
        return {
            "sms_provider": "twilio",
            "sms_base_url": self.url,
            "sms_account_sid": SMS_SID,
            "sms_auth_token": SMS_TOKEN,
            "sms_from": SMS_FROM,
        }


# Fast argon2 and a fast outbox for tests.
FAST = {
    "argon2_time_cost": 1,
    "argon2_memory_kib": 8192,
    "argon2_parallelism": 1,
    "notify_poll_seconds": 0.05,
    "notify_backoff_seconds": 30.0,
}


@pytest.fixture
async def mail() -> AsyncIterator[MailCatcher]:
    """A running SMTP catcher."""
    catcher = await MailCatcher().start()
    yield catcher
    await catcher.stop()


@pytest.fixture
async def sms() -> AsyncIterator[FakeSms]:
    """A running fake SMS provider."""
    provider = await FakeSms().start()
    yield provider
    await provider.stop()


async def member(
    server: RunningServer, role: Role = Role.CLIENT, *, phone: str | None = None, email: bool = True
) -> tuple[Client, User]:
    """Create an account (with an email and/or phone) and return a client signed in as it, and the user."""
    address = f"{uuid.uuid4().hex[:10]}@example.com" if email else None
    user = await server.deps.accounts.create(address, phone, f"{role} user", PASSWORD, role, server.clock())
    pair = await server.deps.accounts.issue(user, server.clock())
    return await server.client(token=pair.access_token), user
