"""Outages and misconfiguration: a mail server or SMS provider that is down does not use up a message's attempts."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from models.common import utc_now
from models.notify import OutboxMessage, OutboxStatus
from notify.senders import sms_failure
from tests.helpers import ManualClock, RunningServer, free_port
from tests.notify_doubles import FAST, FakeSms, MailCatcher, mail, sms, wait_status

__all__ = ["mail", "sms"]  # fixtures

CREDENTIALS = ("desk-mailer", "s3cret pass")


async def entry(server: RunningServer, message_id: str) -> OutboxMessage:
    """Return the outbox message as stored."""
    message = await server.deps.notifier.store.get_message(message_id)
    assert message is not None
    return message


def mongo_clock() -> ManualClock:
    """A manual clock on whole seconds (MongoDB keeps milliseconds)."""
    return ManualClock(utc_now().replace(microsecond=0))


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_a_wrong_smtp_password_for_hours_delivers_once_fixed_with_attempts_untouched(  # type: ignore[no-untyped-def]
    start_server, settings_for, backend: str
) -> None:
    clock = mongo_clock()
    mail = await MailCatcher().start(credentials=CREDENTIALS)
    try:
        wrong = settings_for(backend, **mail.settings(), **FAST, smtp_user=CREDENTIALS[0], smtp_password="guess")
        assert (wrong.notify_max_attempts, wrong.notify_backoff_max_seconds) == (8, 3600), "the defaults"
        server = await start_server(settings=wrong, clock=clock)
        queued = await server.deps.notifier.email("ada@example.com", "Patience", "hello", kind="sold")
        waits, per_try = [], 0
        for tries in range(1, 11):  # more than NOTIFY_MAX_ATTEMPTS, over four hours
            await wait_status(server, queued.id, OutboxStatus.PENDING, tries=tries)
            waiting = await entry(server, queued.id)
            assert (waiting.attempts, waiting.deferrals) == (0, tries)
            assert waiting.last_error.startswith("channel unavailable: smtp 535")
            waits.append((waiting.next_try_at - clock()).total_seconds())
            per_try = per_try or len(mail.logins)  # aiosmtplib may try more than one AUTH mechanism
            if tries < 10:
                clock.advance(seconds=waits[-1])
        assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
        assert per_try and [ok for _, _, ok in mail.logins] == [False] * 10 * per_try, "one login per try"
        await server.stop()

        fixed = wrong.model_copy(update={"port": free_port(), "smtp_password": CREDENTIALS[1]})
        server = await start_server(settings=fixed, clock=clock)  # same database, the right password
        clock.advance(seconds=3600)
        [message] = await mail.wait_count(1)
        assert message["Subject"] == "Patience" and mail.envelopes == [("desk@test", ["ada@example.com"])]
        await wait_status(server, queued.id, OutboxStatus.SENT)
        sent = await entry(server, queued.id)
        assert (sent.attempts, sent.deferrals) == (1, 10) and sent.last_error is None
        assert [ok for _, _, ok in mail.logins][10 * per_try :] == [True]
    finally:
        await mail.stop()


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_a_message_the_channel_could_not_take_for_max_age_is_failed_with_the_reason(  # type: ignore[no-untyped-def]
    start_server, sms: FakeSms, backend: str
) -> None:
    clock = mongo_clock()
    server = await start_server(
        backend, clock=clock, **{**sms.settings(), "sms_auth_token": "wrong"}, **FAST, notify_max_age_hours=0.05
    )
    queued = await server.deps.notifier.sms("+4915112345678", "too late", kind="sold")
    created = clock()
    for tries, due in ((1, 30), (2, 90), (3, 180)):  # 90 s + 120 s would pass the 180 s age limit: tried at it
        await wait_status(server, queued.id, OutboxStatus.PENDING, tries=tries)
        waiting = await entry(server, queued.id)
        assert waiting.next_try_at == created + timedelta(seconds=due)
        assert waiting.last_error.startswith("channel unavailable: sms provider 401"), "a wrong token is config"
        clock.advance(seconds=(waiting.next_try_at - clock()).total_seconds())
    await wait_status(server, queued.id, OutboxStatus.FAILED)
    failed = await entry(server, queued.id)
    assert (failed.attempts, failed.deferrals) == (0, 4)
    assert failed.last_error.startswith(
        "not delivered within 0.05 h (DESKLINE_NOTIFY_MAX_AGE_HOURS); last error: channel unavailable: sms provider 401"
    )
    clock.advance(hours=2)
    server.deps.notifier.worker.wake()
    await asyncio.sleep(0.3)
    assert sms.unauthorized == 4 and sms.delivered == [], "tried after it was failed"


async def test_a_failure_about_the_message_still_stops_after_max_attempts(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock, **mail.settings(), **FAST, notify_max_attempts=3)
    mail.refuse_rcpt = {"busy@example.com": "450 4.2.1 Mailbox busy, try again"}
    mail.fail_next = 3  # "451 4.3.0 try again later" after DATA, three times: busy never gets to DATA
    notifier = server.deps.notifier
    busy = await notifier.email("busy@example.com", "To busy", "hello", kind="sold")
    flaky = await notifier.email("ada@example.com", "Flaky", "hello", kind="sold")
    for tries in (1, 2):
        for message_id, code in ((busy.id, "450"), (flaky.id, "451")):
            await wait_status(server, message_id, OutboxStatus.PENDING, tries=tries)
            waiting = await entry(server, message_id)
            assert (waiting.attempts, waiting.deferrals) == (tries, 0) and code in waiting.last_error
        clock.advance(seconds=30 * tries)
    for message_id, code in ((busy.id, "450"), (flaky.id, "451")):
        await wait_status(server, message_id, OutboxStatus.FAILED)
        failed = await entry(server, message_id)
        assert (failed.attempts, failed.deferrals) == (3, 0)
        assert failed.last_error.startswith(f"{'recipient refused' if code == '450' else 'smtp 451'}")
    clock.advance(hours=2)
    notifier.worker.wake()
    await asyncio.sleep(0.3)
    assert mail.messages == [] and mail.transactions == 6


async def test_while_the_sms_provider_is_down_one_message_probes_it_and_email_flows(  # type: ignore[no-untyped-def]
    start_server, sms: FakeSms, mail: MailCatcher
) -> None:
    clock = ManualClock()
    server = await start_server(
        "sqlite", clock=clock, **sms.settings(), **mail.settings(), **{**FAST, "notify_poll_seconds": 0.75}
    )
    notifier = server.deps.notifier
    sms.fail_next = 1000  # 503 until further notice
    first = await notifier.sms("+4915100000000", "m0", kind="sold")
    await wait_status(server, first.id, OutboxStatus.PENDING, tries=1)
    for i in range(1, 5):
        await notifier.sms(f"+491510000000{i}", f"m{i}", kind="sold")
    email = await notifier.email("ada@example.com", "Still flowing", "hello", kind="sold")
    await wait_status(server, email.id, OutboxStatus.SENT)
    assert len(sms.attempts) == 1, "four more SMS went to a provider that had just answered 503"

    await sms.wait_attempts(2)  # after a poll interval: one message probes the provider
    await asyncio.sleep(0.2)
    assert len(sms.attempts) == 2, "more than one probe per poll interval"
    sms.fail_next = 0
    await sms.wait_delivered(3)  # the next probe goes through, then the rest of the due ones at once
    clock.advance(seconds=30)  # the two that met the outage are due again
    notifier.worker.wake()
    await sms.wait_delivered(5)
    await asyncio.sleep(0.2)
    assert Counter(d["Body"] for d in sms.delivered) == Counter(f"m{i}" for i in range(5))
    assert len(sms.attempts) == 7
    for message in await notifier.store.list_outbox(None, 10):
        assert message.status == OutboxStatus.SENT and message.attempts == 1


def test_sms_provider_answers_that_mean_it_is_unavailable_or_refuses_the_message() -> None:
    for status in (401, 403, 404, 408, 429, 500, 502, 503):
        failure = sms_failure(status, "x")
        assert failure.unavailable and not failure.permanent, status
    for status in (400, 405, 410, 413, 422):
        failure = sms_failure(status, "x")
        assert failure.permanent and not failure.unavailable, status
