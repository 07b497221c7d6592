"""Notifications end to end: in-app push and list, prefs, broadcast, email over SMTP, SMS over HTTP with retries."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from config import Settings
from models.common import to_jsonable, utc_now
from models.notify import Channel, OutboxMessage, OutboxStatus
from models.roles import Role
from storage.database import new_id
from storage.notify import make_notify_store
from storage.sqlite.db import SqliteDatabase
from tests.helpdesk_kit import admin_of, new_workspace
from tests.helpdesk_kit import signed_in as helpdesk_signed_in
from tests.helpers import ManualClock, RunningServer, ServerProcess, free_port, start_all
from tests.notify_doubles import (
    FAST,
    SMS_FROM,
    SMS_SID,
    SMS_TOKEN,
    FakeSms,
    MailCatcher,
    body_of,
    mail,
    member,
    sms,
    wait_status,
)
from tests.queue_helpers import staffed_office

__all__ = ["mail", "sms"]  # fixtures


async def test_notify_stores_and_pushes_to_every_socket_of_the_user(any_server: RunningServer) -> None:
    client, user = await member(any_server)
    other_tab = await any_server.client(token=None)
    stranger, _ = await member(any_server)
    note = await any_server.deps.notifier.notify(user.id, "ticket_reply", "New reply", "Hi!", {"ticket_id": "t1"})
    pushed = await client.inbox.wait_for("notification")
    assert pushed == to_jsonable(note)
    assert pushed["kind"] == "ticket_reply" and pushed["title"] == "New reply" and pushed["body"] == "Hi!"
    assert pushed["data"] == {"ticket_id": "t1"} and pushed["read"] is False and pushed["user_id"] == user.id
    listed = await client.ok("list_notifications", {})
    assert [n["id"] for n in listed["notifications"]] == [note.id] and listed["unread"] == 1
    assert listed["notifications"][0]["data"] == {"ticket_id": "t1"}
    await asyncio.sleep(0.1)
    assert stranger.inbox.of("notification") == [] and other_tab.inbox.of("notification") == []
    assert (await stranger.ok("list_notifications", {}))["notifications"] == []


async def test_list_is_unread_first_and_paginates_and_mark_read_syncs_tabs(start_server) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    server = await start_server("sqlite", clock=clock)
    client, user = await member(server)
    tab2 = await server.client(token=(await server.deps.accounts.issue(user, clock())).access_token)
    ids = []
    for i in range(5):
        clock.advance(seconds=1)
        ids.append((await server.deps.notifier.notify(user.id, "ticket_assigned", f"n{i}", "b")).id)
    marked = await client.ok("mark_notifications_read", {"ids": [ids[3], ids[0]]})
    assert marked == {"marked": 2, "unread": 3}
    sync = await tab2.inbox.wait_for("notifications_read")
    assert sync == {"ids": [ids[3], ids[0]], "all": False, "marked": 2, "unread": 3}

    first = await client.ok("list_notifications", {"limit": 2})
    second = await client.ok("list_notifications", {"limit": 2, "cursor": first["next_cursor"]})
    third = await client.ok("list_notifications", {"limit": 2, "cursor": second["next_cursor"]})
    order = [n["id"] for page in (first, second, third) for n in page["notifications"]]
    assert order == [ids[4], ids[2], ids[1], ids[3], ids[0]]
    assert third["next_cursor"] is None
    unread = await client.ok("list_notifications", {"unread_only": True})
    assert [n["id"] for n in unread["notifications"]] == [ids[4], ids[2], ids[1]]

    assert await client.ok("mark_notifications_read", {"all": True}) == {"marked": 3, "unread": 0}
    assert await client.ok("mark_notifications_read", {"all": True}) == {"marked": 0, "unread": 0}


async def test_notification_events_refuse_bad_input(server: RunningServer) -> None:
    client, _ = await member(server)
    other, other_user = await member(server)
    theirs = await server.deps.notifier.notify(other_user.id, "ticket_assigned", "x", "y")
    anon = await server.client()
    for event in ("list_notifications", "mark_notifications_read", "get_notification_prefs", "set_notification_prefs"):
        await anon.error(event, {}, "unauthorized")
    bad = [
        ("list_notifications", {"cursor": "not-a-cursor"}),
        ("list_notifications", {"limit": 0}),
        ("list_notifications", {"limit": "ten"}),
        ("list_notifications", {"surprise": 1}),
        ("mark_notifications_read", {}),
        ("mark_notifications_read", {"ids": ["a"], "all": True}),
        ("mark_notifications_read", {"ids": []}),
        ("mark_notifications_read", {"ids": "abc"}),
        ("set_notification_prefs", {"channels": {"pigeon": True}}),
        ("set_notification_prefs", {"channels": {"sms": "yes please"}}),
        ("set_notification_prefs", {"kinds": {"Bad Kind!": {"email": False}}}),
        ("set_notification_prefs", {"kinds": {"broadcast": {"fax": True}}}),
        ("set_notification_prefs", ["sms"]),
    ]
    for event, payload in bad:
        await client.error(event, payload, "invalid_payload")
    assert await client.ok("mark_notifications_read", {"ids": [theirs.id]}) == {"marked": 0, "unread": 0}
    assert (await other.ok("list_notifications", {}))["unread"] == 1
    assert await server.deps.notifier.notify("0" * 24, "ticket_assigned", "nobody", "home") is None


async def test_prefs_turn_channels_and_kinds_off(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **mail.settings(), **FAST)
    notifier = server.deps.notifier
    client, user = await member(server)
    defaults = await client.ok("get_notification_prefs")
    assert defaults["channels"] == {"in_app": True, "email": True, "sms": False}
    queue_opt_in = {k: {"email": False} for k in ("queue.your_turn", "queue.your_turn_missed", "queue.your_turn_soon")}
    assert defaults["kinds"] == queue_opt_in
    assert {"ticket_reply", "ticket_assigned", "queue.your_turn_soon", "broadcast"} <= set(defaults["known_kinds"])

    prefs = await client.ok(
        "set_notification_prefs", {"channels": {"sms": True}, "kinds": {"ticket_reply": {"email": False}}}
    )
    assert prefs["channels"] == {"in_app": True, "email": True, "sms": True}
    assert prefs["kinds"] == {**queue_opt_in, "ticket_reply": {"email": False}}
    assert await client.ok("get_notification_prefs") == prefs

    await notifier.notify(user.id, "ticket_reply", "reply", "in-app only")
    await notifier.notify(user.id, "queue.your_turn_soon", "soon", "in-app only by default")
    await notifier.notify(user.id, "ticket_assigned", "assigned", "in-app and email")
    [only] = await mail.wait_count(1)
    assert only["Subject"] == "assigned"
    queued = await notifier.store.list_outbox(None, 10)
    assert [(m.channel, m.kind) for m in queued] == [(Channel.EMAIL, "ticket_assigned")], (
        "no SMS: the user has no phone"
    )
    assert [n["title"] for n in (await client.ok("list_notifications", {}))["notifications"]] == [
        "assigned",
        "soon",
        "reply",
    ]

    prefs = await client.ok(
        "set_notification_prefs", {"kinds": {"ticket_reply": None, "queue.your_turn_soon": {"email": True}}}
    )
    assert prefs["kinds"] == {**queue_opt_in, "queue.your_turn_soon": {"email": True}}
    await client.ok("set_notification_prefs", {"channels": {"in_app": False}})
    assert await notifier.notify(user.id, "queue.your_turn_soon", "soon again", "email only") is None
    await mail.wait_count(2)
    assert mail.messages[1]["Subject"] == "soon again"
    assert (await client.ok("list_notifications", {}))["unread"] == 3
    assert [p["title"] for p in client.inbox.of("notification")] == ["reply", "soon", "assigned"]


async def test_email_goes_out_over_smtp_as_text_and_html(
    start_server, mail: MailCatcher, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="deskline.notify")
    server = await start_server("sqlite", **mail.settings(), **FAST)
    assert "event=notify_channels in_app=on email=on sms=off(DESKLINE_SMS_PROVIDER is not set)" in caplog.text
    client, user = await member(server)
    await server.deps.notifier.notify(user.id, "ticket_reply", "Reply <b>now</b>", "Line one\nLine two & more")
    [message] = await mail.wait_count(1)
    assert message["To"] == user.email and message["Subject"] == "Reply <b>now</b>"
    assert message["From"] == "Deskline <desk@test>"
    assert "Line one\nLine two & more" in body_of(message)
    html = body_of(message, "html")
    assert "Reply &lt;b&gt;now&lt;/b&gt;" in html and "Line two &amp; more" in html
    assert mail.envelopes[0][1] == [user.email]
    await client.inbox.wait_for("notification")


async def test_channels_without_config_are_off_and_queue_nothing(
    start_server, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="deskline.notify")
    server = await start_server("sqlite")
    lines = [r.getMessage() for r in caplog.records if "notify_channels" in r.getMessage()]
    assert lines == [
        "event=notify_channels in_app=on email=off(DESKLINE_SMTP_HOST is not set)"
        " sms=off(DESKLINE_SMS_PROVIDER is not set)"
    ]
    client, user = await member(server, phone="+4915112345678")
    await client.ok("set_notification_prefs", {"channels": {"sms": True}})
    assert await server.deps.notifier.notify(user.id, "ticket_assigned", "t", "b") is not None
    assert await server.deps.notifier.store.list_outbox(None, 10) == []


async def test_log_sms_provider_and_incomplete_twilio_config(start_server, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="deskline.notify")
    await start_server("sqlite", sms_provider="twilio", sms_account_sid="AC1")
    assert "sms=off(missing DESKLINE_SMS_AUTH_TOKEN, DESKLINE_SMS_FROM)" in caplog.text
    server = await start_server("sqlite", sms_provider="log", **FAST)
    queued = await server.deps.notifier.sms("+4915112345678", "dev only", kind="sold")
    await wait_status(server, queued.id, OutboxStatus.SENT)
    assert "event=sms_logged to=+4915112345678 kind=sold body='dev only'" in caplog.text


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_sms_retries_with_backoff_then_delivers_once(start_server, sms: FakeSms, backend: str) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(utc_now().replace(microsecond=0))  # MongoDB keeps milliseconds
    server = await start_server(backend, clock=clock, **sms.settings(), **FAST)
    client, user = await member(server, phone="+4915112345678")
    await client.ok("set_notification_prefs", {"channels": {"sms": True, "email": False, "in_app": False}})
    sms.fail_next = 2
    start = clock()
    assert await server.deps.notifier.notify(user.id, "queue.your_turn_soon", "Almost there", "2 ahead of you") is None
    [queued] = await server.deps.notifier.store.list_outbox(None, 5)

    await sms.wait_attempts(1)
    await wait_status(server, queued.id, OutboxStatus.PENDING)
    first = await server.deps.notifier.store.get_message(queued.id)
    assert (first.attempts, first.deferrals) == (0, 1), "a provider outage is not the message's attempt"
    assert first.next_try_at == start + timedelta(seconds=30)
    assert first.last_error.startswith("channel unavailable: sms provider 503")
    await asyncio.sleep(0.3)
    assert len(sms.attempts) == 1, "retried before its backoff ran out"

    clock.advance(seconds=30)
    await sms.wait_attempts(2)
    await wait_status(server, queued.id, OutboxStatus.PENDING)
    second = await server.deps.notifier.store.get_message(queued.id)
    assert (second.attempts, second.deferrals) == (0, 2) and second.next_try_at == clock() + timedelta(seconds=60)
    clock.advance(seconds=59)
    await asyncio.sleep(0.3)
    assert len(sms.attempts) == 2
    clock.advance(seconds=1)
    [delivered] = await sms.wait_delivered(1)
    assert delivered == {"To": "+4915112345678", "From": "+15550001111", "Body": "Almost there: 2 ahead of you"}
    await wait_status(server, queued.id, OutboxStatus.SENT)
    sent = await server.deps.notifier.store.get_message(queued.id)
    assert (sent.attempts, sent.deferrals) == (1, 2) and sent.provider_id.startswith("SM") and sent.last_error is None
    await asyncio.sleep(0.3)
    assert len(sms.delivered) == 1 and len(sms.attempts) == 3
    assert client.inbox.of("notification") == [], "in-app was switched off"


async def test_permanent_failure_is_not_retried_and_admin_sees_it(start_server, sms: FakeSms) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    # The admin's socket lives through the two hours below: its access token must too (expiry is per event).
    server = await start_server("sqlite", clock=clock, **sms.settings(), **FAST, access_token_minutes=180)
    admin, _ = await member(server, Role.ADMIN)
    client, _ = await member(server)
    sms.fail_next, sms.fail_status = 1, 400
    queued = await server.deps.notifier.sms("+4915112345678", "hello", kind="sold")
    await wait_status(server, queued.id, OutboxStatus.FAILED)
    clock.advance(hours=2)
    await asyncio.sleep(0.3)
    assert len(sms.attempts) == 1
    listed = await admin.ok("list_outbox", {"status": "failed"})
    assert listed["channels"] == {"in_app": True, "email": False, "sms": True}
    [entry] = listed["messages"]
    assert entry["id"] == queued.id and entry["attempts"] == 1 and "400" in entry["last_error"]
    assert "text" not in entry and "html" not in entry
    await client.error("list_outbox", {}, "forbidden")
    await admin.error("list_outbox", {"status": "lost"}, "invalid_payload")


async def test_admin_broadcast_to_a_role_or_to_users(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **mail.settings(), **FAST)
    admin, _ = await member(server, Role.ADMIN)
    (agent1, u1), (agent2, u2) = await member(server, Role.AGENT), await member(server, Role.AGENT)
    customer, uc = await member(server)
    _, gone = await member(server, Role.AGENT)
    await admin.ok("deactivate_user", {"user_id": gone.id})

    payload = {"to": {"role": "agent"}, "title": "Team meeting", "body": "at 3", "channels": ["in_app", "email"]}
    assert await admin.ok("send_notification", payload) == {"recipients": 2, "channels": ["in_app", "email"]}
    for client in (agent1, agent2):
        pushed = await client.inbox.wait_for("notification")
        assert pushed["kind"] == "broadcast" and pushed["title"] == "Team meeting" and pushed["body"] == "at 3"
    await mail.wait_count(2)
    assert sorted(m["To"] for m in mail.messages) == sorted([u1.email, u2.email])

    await customer.error("send_notification", {**payload, "to": {"user_ids": [uc.id]}}, "forbidden")
    await agent1.error("send_notification", payload, "forbidden")
    await (await server.client()).error("send_notification", payload, "unauthorized")
    await admin.error("send_notification", {**payload, "to": {"user_ids": [uc.id, "0" * 24]}}, "not_found")
    bad_payloads = [
        {**payload, "to": {"user_ids": [uc.id], "role": "agent"}},
        {**payload, "to": {}},
        {**payload, "to": {"role": "pirate"}},
        {**payload, "title": ""},
        {**payload, "channels": []},
        {**payload, "channels": ["fax"]},
        {**payload, "kind": "Not A Kind"},
        {**payload, "extra": True},
    ]
    for bad in bad_payloads:
        await admin.error("send_notification", bad, "invalid_payload")
    assert (await customer.ok("list_notifications", {}))["notifications"] == [], "a refused broadcast sent something"

    sent = await admin.ok("send_notification", {"to": {"user_ids": [uc.id, uc.id]}, "title": "Hi", "body": "there"})
    assert sent == {"recipients": 1, "channels": ["in_app", "email", "sms"]}
    assert (await customer.inbox.wait_for("notification"))["title"] == "Hi"
    await mail.wait_count(3)
    assert agent1.inbox.of("notification")[-1]["title"] == "Team meeting"


async def test_restart_in_the_middle_delivers_each_message_once(start_server, settings_for, sms: FakeSms) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()
    settings = settings_for("sqlite", **sms.settings(), **FAST)
    first = await start_server(settings=settings, clock=clock)
    sms.fail_next = 1
    retrying = await first.deps.notifier.sms("+4915110000001", "one", kind="sold")
    await sms.wait_attempts(1)
    await wait_status(first, retrying.id, OutboxStatus.PENDING)
    sms.delay = 0.5
    in_flight = await first.deps.notifier.sms("+4915110000002", "two", kind="sold")
    await sms.wait_attempts(2)
    await first.stop()  # lets the send in flight finish, then stops
    assert [d["Body"] for d in sms.delivered] == ["two"]

    sms.delay = 0
    clock.advance(seconds=30)
    second = await start_server(settings=settings, clock=clock)
    await wait_status(second, retrying.id, OutboxStatus.SENT)
    await wait_status(second, in_flight.id, OutboxStatus.SENT)
    await asyncio.sleep(0.3)
    assert sorted(d["Body"] for d in sms.delivered) == ["one", "two"]
    assert len(sms.attempts) == 3


async def test_two_servers_on_one_mongo_db_deliver_each_message_once(start_server, settings_for, sms: FakeSms) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for("mongo", **sms.settings(), **FAST, notify_batch_size=2)
    one = await start_server(settings=settings)
    two = await start_server(settings=settings.model_copy(update={"port": free_port()}))
    sms.delay = 0.05
    for i in range(10):
        await (one if i % 2 else two).deps.notifier.store.enqueue(outbox_sms(f"m{i}", one.clock()))
    one.deps.notifier.worker.wake()
    two.deps.notifier.worker.wake()
    await sms.wait_delivered(10, within=30)
    await asyncio.sleep(0.3)
    assert Counter(d["Body"] for d in sms.delivered) == Counter(f"m{i}" for i in range(10))
    messages = await one.deps.notifier.store.list_outbox(None, 20)
    assert {m.status for m in messages} == {OutboxStatus.SENT}
    assert {m.claimed_by for m in messages} == {one.deps.notifier.worker.name, two.deps.notifier.worker.name}


def outbox_sms(body: str, now: datetime, to: str = "+4915112345678") -> OutboxMessage:
    """An SMS ready to be enqueued directly."""
    return OutboxMessage(
        id=new_id(), channel=Channel.SMS, recipient=to, kind="sold", text=body, next_try_at=now, created_at=now
    )


async def test_two_processes_drain_one_outbox_once_even_across_a_restart(tmp_path, sms: FakeSms) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "shared"
    env = {
        "DESKLINE_DATA_DIR": str(data),
        "DESKLINE_JWT_SECRET": "p" * 48,
        "DESKLINE_SMS_PROVIDER": "twilio",
        "DESKLINE_SMS_BASE_URL": sms.url,
        "DESKLINE_SMS_ACCOUNT_SID": SMS_SID,
        "DESKLINE_SMS_AUTH_TOKEN": SMS_TOKEN,
        "DESKLINE_SMS_FROM": SMS_FROM,
        "DESKLINE_NOTIFY_POLL_SECONDS": "0.05",
        "DESKLINE_NOTIFY_BATCH_SIZE": "2",
        "DESKLINE_NOTIFY_BACKOFF_SECONDS": "0.2",
        "DESKLINE_LOG_LEVEL": "INFO",
    }
    a, b = ServerProcess(env, free_port()), ServerProcess(env, free_port())
    restarted = ServerProcess(env, free_port())
    await start_all(a, b)
    db = await SqliteDatabase.open(data / "deskline.db")
    try:
        store = make_notify_store(db)
        sms.delay, sms.fail_next = 0.1, 3
        count = 50
        for i in range(count):
            await store.enqueue(outbox_sms(f"m{i}", utc_now(), to=f"+49151000{i:05d}"))
        await sms.wait_delivered(8, within=30)
        await asyncio.to_thread(a.stop)  # SIGTERM in the middle: a finishes its sends in flight
        await restarted.start()
        await sms.wait_delivered(count, within=60)
        await asyncio.sleep(0.5)
        messages = await store.list_outbox(None, count + 10)
    finally:
        await db.close()
        await asyncio.to_thread(b.stop)
        await asyncio.to_thread(restarted.stop)
        await asyncio.to_thread(a.stop)
    bodies = Counter(d["Body"] for d in sms.delivered)
    assert bodies == Counter(f"m{i}" for i in range(count)), "a message was lost or sent twice"
    assert {m.status for m in messages} == {OutboxStatus.SENT}
    assert len(sms.attempts) == count + 3
    assert len({m.claimed_by for m in messages}) >= 2, "only one process ever drained"


async def test_a_slow_send_is_cut_off_before_its_lease_ends_so_no_other_worker_sends_it_again(
    start_server, settings_for, sms: FakeSms
) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(
        "sqlite", **sms.settings(), **FAST, notify_send_timeout_seconds=0.3, notify_lease_seconds=1.0
    )
    one = await start_server(settings=settings)
    two = await start_server(settings=settings.model_copy(update={"port": free_port()}))
    sms.delay = 2.5  # the provider hangs far past the lease
    queued = await one.deps.notifier.sms("+4915112345678", "slow provider", kind="sold")
    two.deps.notifier.worker.wake()
    await sms.wait_attempts(1)
    await wait_status(one, queued.id, OutboxStatus.PENDING, within=2, tries=1)
    given_up = await one.deps.notifier.store.get_message(queued.id)
    assert (given_up.attempts, given_up.deferrals) == (0, 1)
    # cut off by the provider client's own timeout or by the outbox's send deadline, whichever fires first
    assert "TimeoutError" in given_up.last_error or "send timed out" in given_up.last_error
    assert given_up.next_try_at - given_up.created_at >= timedelta(seconds=29), "retried without backoff"
    await sms.wait_for_abandoned(1, within=5)  # past the lease, and the slow request ended
    assert len(sms.attempts) == 1, "another worker sent the message while the first was still sending"
    assert sms.delivered == []


@pytest.mark.parametrize("backend", ["sqlite", "mongo"])
async def test_a_lease_left_by_a_crashed_worker_is_taken_over_once_it_expires(
    start_server, sms: FakeSms, backend: str
) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(utc_now().replace(microsecond=0))  # MongoDB keeps milliseconds
    server = await start_server(backend, clock=clock, **sms.settings(), **FAST)
    store, worker = server.deps.notifier.store, server.deps.notifier.worker
    lease = timedelta(seconds=server.settings.notify_lease_seconds)
    now = clock()
    crashed = outbox_sms("left behind", now).model_copy(
        update={
            "status": OutboxStatus.SENDING,
            "claimed_by": "crashed-worker",
            "claim_expires_at": now + lease,
            "attempts": 1,
        }
    )
    await store.enqueue(crashed)  # exactly what a worker that died mid-send leaves in the outbox

    clock.advance(seconds=lease.total_seconds() - 1)
    worker.wake()
    await asyncio.sleep(0.3)
    assert sms.attempts == [], "a live lease was taken over"
    clock.advance(seconds=2)
    worker.wake()
    [delivered] = await sms.wait_delivered(1)
    assert delivered["Body"] == "left behind"
    await wait_status(server, crashed.id, OutboxStatus.SENT)
    sent = await store.get_message(crashed.id)
    assert sent.claimed_by == worker.name and sent.attempts == 2
    assert not await store.mark_sent(crashed, "crashed-worker", clock(), "late"), "the crashed worker still holds it"
    clock.advance(hours=1)
    worker.wake()
    await asyncio.sleep(0.3)
    assert len(sms.attempts) == 1 and len(sms.delivered) == 1


async def test_a_slow_smtp_conversation_is_cut_off_as_a_whole_before_its_lease_ends(
    start_server, settings_for, mail: MailCatcher
) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(
        "sqlite", **mail.settings(), **FAST, notify_send_timeout_seconds=0.3, notify_lease_seconds=0.6
    )
    one = await start_server(settings=settings)
    two = await start_server(settings=settings.model_copy(update={"port": free_port()}))
    mail.step_delay = 0.25  # each SMTP answer beats the 0.3 s deadline; the whole conversation (0.75 s) does not
    queued = await one.deps.notifier.email("ada@example.com", "Slow server", "text", kind="sold")
    two.deps.notifier.worker.wake()
    await wait_status(one, queued.id, OutboxStatus.PENDING, within=2, tries=1)
    given_up = await one.deps.notifier.store.get_message(queued.id)
    assert (given_up.attempts, given_up.deferrals) == (0, 1)
    assert "channel unavailable: send timed out after 0.3 s" in given_up.last_error
    await asyncio.sleep(1.2)  # twice the lease
    assert mail.transactions == 1, "another worker sent the email while the first was still sending"
    assert mail.messages == []


def test_a_lease_shorter_than_two_send_deadlines_is_refused() -> None:
    assert Settings(notify_lease_seconds=60, notify_send_timeout_seconds=30).notify_lease_seconds == 60
    with pytest.raises(ValidationError, match="at least twice"):
        Settings(notify_lease_seconds=59, notify_send_timeout_seconds=30)
    with pytest.raises(ValidationError, match="at least twice"):
        Settings(notify_lease_seconds=40)


async def test_helpdesk_assignment_and_reply_reach_people_by_email(start_server, mail: MailCatcher) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **mail.settings(), **FAST)
    admin = await admin_of(server)
    workspace, _ = await new_workspace(admin)
    agent, agent_info = await helpdesk_signed_in(server, Role.AGENT, name="Agent Ann")
    await admin.ok("add_workspace_member", {"workspace_id": workspace["id"], "user_id": agent_info["user"]["id"]})
    category = await admin.ok("create_category", {"workspace_id": workspace["id"], "name": "Billing"})
    client, client_info = await helpdesk_signed_in(server, Role.CLIENT, name="Cleo Client")

    ticket = await client.ok(
        "submit_ticket", {"category_id": category["id"], "title": "Charged twice", "body": "Please refund"}
    )
    assert ticket["assignee_id"] == agent_info["user"]["id"]
    [assigned] = await mail.wait_count(1)
    assert assigned["To"] == agent_info["email"] and assigned["Subject"] == "New ticket assigned to you"
    assert "Charged twice" in body_of(assigned) and "Charged twice" in body_of(assigned, "html")

    await agent.ok("send_ticket_message", {"ticket_id": ticket["id"], "body": "Refunded today"})
    reply = (await mail.wait_count(2))[1]
    assert reply["To"] == client_info["email"] and reply["Subject"] == "New reply in your ticket"
    assert "Charged twice" in body_of(reply)
    assert mail.envelopes[1][1] == [client_info["email"]]


async def test_a_queue_call_reaches_the_number_holder_by_sms(start_server, sms: FakeSms) -> None:  # type: ignore[no-untyped-def]
    server = await start_server("sqlite", **sms.settings(), **FAST)
    office = await staffed_office(server, agents=1)
    holder, user = await member(server, phone="+989121234567")
    await holder.ok(
        "set_notification_prefs",
        {"channels": {"sms": True, "email": False}, "kinds": {"queue.your_turn": {"sms": True}}},
    )
    taken = await holder.ok("take_number", {"ref_office": office.ref})
    await office.agents[0].ok("increment_counter", {"ref_office": office.ref, "number_window": 1})
    await holder.inbox.wait_for("your_turn")
    expected = f"It is your turn: Number {taken['number']}: please go to window 1."
    delivered = await sms.wait_delivered_matching(lambda d: d["Body"] == expected)
    assert delivered["To"] == user.phone == "+989121234567" and delivered["From"] == SMS_FROM
    queued = [m for m in await server.deps.notifier.store.list_outbox(None, 10) if m.kind == "queue.your_turn"]
    assert [(m.channel, m.user_id) for m in queued] == [(Channel.SMS, user.id)]
    await wait_status(server, queued[0].id, OutboxStatus.SENT)


async def test_smtp_user_without_password_turns_email_off_and_says_why(
    start_server, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="deskline.notify")
    server = await start_server("sqlite", smtp_host="127.0.0.1", smtp_user="desk-mailer")
    assert "email=off(set both DESKLINE_SMTP_USER and DESKLINE_SMTP_PASSWORD, or neither)" in caplog.text
    assert not server.deps.notifier.is_on(Channel.EMAIL)
