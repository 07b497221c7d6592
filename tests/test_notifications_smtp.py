"""Email transport: STARTTLS and implicit TLS with a CA made per test, SMTP AUTH, and which refusals are retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from config import Settings
from models.clock import to_millis
from models.notify import OutboxMessage, OutboxStatus
from tests.helpers import ManualClock, RunningServer, free_port
from tests.notify_doubles import FAST, LocalCA, MailCatcher, mail, make_local_ca, wait_status

__all__ = ["mail"]  # fixture

LOGIN = {"smtp_user": "desk-mailer", "smtp_password": "s3cret pass"}


async def outbox_entry(server: RunningServer, message_id: str) -> OutboxMessage:
    """Return the outbox message as stored."""
    message = await server.deps.notifier.store.get_message(message_id)
    assert message is not None
    return message


async def retried_later(server: RunningServer, message_id: str, clock: ManualClock, *, counted: bool = False) -> str:
    """Wait until the message is pending again after its first try, due in the first backoff; return its error.

    ``counted``: the failure was about the message (an attempt); else the channel was unavailable (a deferral).
    """
    await wait_status(server, message_id, OutboxStatus.PENDING, tries=1)
    message = await outbox_entry(server, message_id)
    assert (message.attempts, message.deferrals) == ((1, 0) if counted else (0, 1))
    assert message.next_try_at == to_millis(clock()) + timedelta(seconds=30)  # the app's times: whole milliseconds
    assert message.last_error and message.last_error.startswith("channel unavailable: ") != counted
    return message.last_error


@pytest.fixture
def local_ca(tmp_path: Path) -> LocalCA:
    """A CA made for this test only (no trust store knows it) and a server certificate for 127.0.0.1."""
    return make_local_ca(tmp_path / "ca")


async def test_starttls_delivers_with_the_configured_ca_and_logs_in_after_it(start_server, local_ca: LocalCA) -> None:  # type: ignore[no-untyped-def]
    mail = await MailCatcher().start(("desk-mailer", "s3cret pass"), tls="starttls", context=local_ca.server_context)
    try:
        server = await start_server(
            "sqlite", **{**mail.settings(), "smtp_starttls": True}, **FAST, **LOGIN, smtp_ca_file=local_ca.ca_file
        )
        sent = await server.deps.notifier.email("ada@example.com", "Over STARTTLS", "hello", kind="sold")
        [message] = await mail.wait_count(1)
        assert message["Subject"] == "Over STARTTLS" and mail.envelopes[0][1] == ["ada@example.com"]
        assert mail.encrypted == [True]
        # the double refuses AUTH before STARTTLS, so this login happened over TLS
        assert [(login, ok) for _, login, ok in mail.logins] == [("desk-mailer", True)]
        await wait_status(server, sent.id, OutboxStatus.SENT)
    finally:
        await mail.stop()


@pytest.mark.parametrize("trust", ["system store", "another CA"])
async def test_an_untrusted_certificate_is_refused_and_the_mail_waits_for_a_fixed_config(  # type: ignore[no-untyped-def]
    start_server, settings_for, local_ca: LocalCA, tmp_path: Path, trust: str
) -> None:
    clock = ManualClock()
    mail = await MailCatcher().start(tls="starttls", context=local_ca.server_context)
    try:
        wrong_ca = make_local_ca(tmp_path / "other").ca_file if trust == "another CA" else None
        settings = settings_for("sqlite", **{**mail.settings(), "smtp_starttls": True}, **FAST, smtp_ca_file=wrong_ca)
        first = await start_server(settings=settings, clock=clock)
        queued = await first.deps.notifier.email("ada@example.com", "Trust me", "hello", kind="sold")
        error = await retried_later(first, queued.id, clock)
        assert "CERTIFICATE_VERIFY_FAILED" in error
        assert mail.transactions == 0 and mail.messages == [], "mail went out over a connection it did not trust"
        await first.stop()

        fixed = settings.model_copy(update={"port": free_port(), "smtp_ca_file": local_ca.ca_file})
        second = await start_server(settings=fixed, clock=clock)
        clock.advance(seconds=30)
        await wait_status(second, queued.id, OutboxStatus.SENT)
        delivered = await outbox_entry(second, queued.id)
        assert (delivered.attempts, delivered.deferrals) == (1, 1)
        assert [m["Subject"] for m in mail.messages] == ["Trust me"] and mail.encrypted == [True]
    finally:
        await mail.stop()


async def test_implicit_tls_delivers_from_the_first_byte(start_server, local_ca: LocalCA) -> None:  # type: ignore[no-untyped-def]
    mail = await MailCatcher().start(tls="implicit", context=local_ca.server_context)
    try:
        server = await start_server(
            "sqlite",
            **{**mail.settings(), "smtp_starttls": True},  # ignored: implicit TLS has nothing to upgrade
            **FAST,
            smtp_tls=True,
            smtp_ca_file=local_ca.ca_file,
        )
        sent = await server.deps.notifier.email("ada@example.com", "Over SMTPS", "hello", kind="sold")
        [message] = await mail.wait_count(1)
        assert message["Subject"] == "Over SMTPS" and mail.encrypted == [True]
        await wait_status(server, sent.id, OutboxStatus.SENT)
    finally:
        await mail.stop()


def test_implicit_tls_follows_smtp_tls_else_port_465() -> None:
    assert Settings(smtp_port=465).smtp_implicit_tls()
    assert not Settings(smtp_port=587).smtp_implicit_tls()
    assert Settings(smtp_port=2465, smtp_tls=True).smtp_implicit_tls()
    assert not Settings(smtp_port=465, smtp_tls=False).smtp_implicit_tls()


async def test_an_unreadable_ca_file_is_retried_and_named(start_server, local_ca: LocalCA, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    mail = await MailCatcher().start(tls="starttls", context=local_ca.server_context)
    try:
        missing = tmp_path / "no-such-ca.pem"
        server = await start_server(
            "sqlite", clock=clock, **{**mail.settings(), "smtp_starttls": True}, **FAST, smtp_ca_file=missing
        )
        queued = await server.deps.notifier.email("ada@example.com", "CA typo", "hello", kind="sold")
        assert "no-such-ca.pem" in await retried_later(server, queued.id, clock)
        assert mail.messages == []
    finally:
        await mail.stop()


async def test_a_wrong_password_or_no_login_keeps_mail_until_the_config_is_fixed(start_server, settings_for) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    mail = await MailCatcher().start(credentials=("desk-mailer", "s3cret pass"))
    try:
        wrong = settings_for("sqlite", **mail.settings(), **FAST, **{**LOGIN, "smtp_password": "guess"})
        server = await start_server(settings=wrong, clock=clock)
        refused = await server.deps.notifier.email("ada@example.com", "Wrong password", "hello", kind="sold")
        assert "535" in await retried_later(server, refused.id, clock)
        tried = list(mail.logins)
        assert tried and all(attempt[1:] == ("desk-mailer", False) for attempt in tried)
        await server.stop()

        anonymous = wrong.model_copy(update={"port": free_port(), "smtp_user": None, "smtp_password": None})
        server = await start_server(settings=anonymous, clock=clock)  # same database
        unauthenticated = await server.deps.notifier.email("bob@example.com", "No login", "hello", kind="sold")
        assert "530" in await retried_later(server, unauthenticated.id, clock)
        assert mail.logins == tried, "a login without credentials"
        await server.stop()
        assert mail.messages == []

        fixed = wrong.model_copy(update={"port": free_port(), "smtp_password": "s3cret pass"})
        server = await start_server(settings=fixed, clock=clock)  # same database, the right password
        clock.advance(seconds=30)
        await mail.wait_count(2)
        for message_id in (refused.id, unauthenticated.id):
            await wait_status(server, message_id, OutboxStatus.SENT)
            delivered = await outbox_entry(server, message_id)
            assert (delivered.attempts, delivered.deferrals) == (1, 1)
        assert sorted(m["Subject"] for m in mail.messages) == ["No login", "Wrong password"]
        assert [ok for _, _, ok in mail.logins[len(tried) :]] == [True, True]
    finally:
        await mail.stop()


async def test_server_and_sender_refusals_are_retried(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    closed_port = free_port()
    nobody = await start_server("sqlite", clock=clock, **{**mail.settings(), "smtp_port": closed_port}, **FAST)
    unreachable = await nobody.deps.notifier.email("ada@example.com", "Nobody home", "hello", kind="sold")
    assert "SMTPConnectError" in await retried_later(nobody, unreachable.id, clock)

    wants_tls = await start_server("sqlite", clock=clock, **{**mail.settings(), "smtp_starttls": True}, **FAST)
    plain_only = await wants_tls.deps.notifier.email("ada@example.com", "No STARTTLS here", "hello", kind="sold")
    assert "STARTTLS" in await retried_later(wants_tls, plain_only.id, clock)
    await wants_tls.stop()

    server = await start_server("sqlite", clock=clock, **mail.settings(), **FAST)
    for answer in (
        "530 5.7.0 Authentication required",
        "534 5.7.9 Authentication mechanism is too weak",
        "538 5.7.11 Encryption required for requested authentication mechanism",
        "553 5.7.1 Sender address rejected: not owned by user",
        "451 4.3.0 Try again later",
    ):
        mail.refuse_mail = answer
        queued = await server.deps.notifier.email("ada@example.com", answer, "hello", kind="sold")
        assert answer.split()[0] in await retried_later(server, queued.id, clock), answer
    assert mail.messages == []


async def test_a_refused_recipient_fails_for_good_unless_it_is_temporary(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock, **mail.settings(), **FAST)
    mail.refuse_rcpt = {
        "gone@example.com": "550 5.1.1 No such user",
        "moved@example.com": "553 5.1.3 Mailbox name not allowed",
        "busy@example.com": "450 4.2.1 Mailbox busy, try again",
    }
    notifier = server.deps.notifier
    gone = await notifier.email("gone@example.com", "To gone", "hello", kind="sold")
    moved = await notifier.email("moved@example.com", "To moved", "hello", kind="sold")
    busy = await notifier.email("busy@example.com", "To busy", "hello", kind="sold")
    fine = await notifier.email("ada@example.com", "To ada", "hello", kind="sold")
    for message_id, code in ((gone.id, "550"), (moved.id, "553")):
        await wait_status(server, message_id, OutboxStatus.FAILED)
        failed = await outbox_entry(server, message_id)
        assert failed.attempts == 1 and code in failed.last_error
    assert "450" in await retried_later(server, busy.id, clock, counted=True)
    await wait_status(server, fine.id, OutboxStatus.SENT)

    clock.advance(hours=2)
    await wait_status(server, busy.id, OutboxStatus.PENDING, tries=2)
    await asyncio.sleep(0.2)
    for message_id in (gone.id, moved.id):
        assert (await outbox_entry(server, message_id)).attempts == 1, "a permanent refusal was retried"
    assert [m["Subject"] for m in mail.messages] == ["To ada"]
