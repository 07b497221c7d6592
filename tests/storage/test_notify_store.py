"""Notification store contract, on both backends: listing order, preferences, and the outbox's claims."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from models.notify import Channel, Notification, NotificationPrefs, OutboxMessage, OutboxStatus
from storage import open_database
from storage.database import Database, new_id
from storage.notify import NotifyStore, make_notify_store
from storage.sqlite.convert import iso
from storage.sqlite.db import SqliteDatabase

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WORKERS = {"sqlite": 6, "mongo": 4}
MESSAGES = {"sqlite": 60, "mongo": 12}


@pytest.fixture
async def store(db: Database) -> NotifyStore:
    """A notification store on an empty database."""
    notify_store = make_notify_store(db)
    await notify_store.init()
    return notify_store


def note(user_id: str, minute: int, kind: str = "ticket_reply") -> Notification:
    return Notification(
        id=new_id(),
        user_id=user_id,
        kind=kind,
        title=f"t{minute}",
        body="b",
        data={"n": minute},
        created_at=T0 + timedelta(minutes=minute),
    )


def message(channel: Channel = Channel.SMS, due: datetime = T0, sensitive: bool = False) -> OutboxMessage:
    return OutboxMessage(
        id=new_id(),
        channel=channel,
        recipient="+15550002222" if channel == Channel.SMS else "a@example.com",
        kind="login_code",
        subject="s",
        text="code 123456",
        html="<b>x</b>" if channel == Channel.EMAIL else None,
        sensitive=sensitive,
        next_try_at=due,
        created_at=T0,
    )


async def test_notifications_list_unread_first_newest_first_with_cursor(store: NotifyStore) -> None:
    items = [note("u1", m) for m in range(7)]
    for item in items:
        await store.add_notification(item)
    await store.add_notification(note("u2", 99))
    assert await store.mark_read("u1", [items[5].id, items[1].id], T0) == 2
    assert await store.count_unread("u1") == 5

    expected = [items[i].id for i in (6, 4, 3, 2, 0, 5, 1)]
    seen: list[str] = []
    after = None
    while True:
        page = await store.list_notifications("u1", after, 3, False)
        seen += [n.id for n in page]
        if len(page) < 3:
            break
        after = (page[-1].read, page[-1].created_at, page[-1].id)
    assert seen == expected
    unread = await store.list_notifications("u1", None, 50, True)
    assert [n.id for n in unread] == expected[:5]
    assert unread[0].data == {"n": 6} and unread[0].title == "t6" and unread[0].read is False


async def test_mark_read_touches_only_the_owner(store: NotifyStore) -> None:
    mine, theirs = note("u1", 1), note("u2", 2)
    await store.add_notification(mine)
    await store.add_notification(theirs)
    assert await store.mark_read("u1", [theirs.id], T0) == 0
    assert await store.count_unread("u2") == 1
    assert await store.mark_read("u1", None, T0) == 1
    assert await store.mark_read("u1", None, T0) == 0
    [read] = await store.list_notifications("u1", None, 10, False)
    assert read.read is True and read.read_at == T0


async def test_prefs_round_trip(store: NotifyStore) -> None:
    assert await store.get_prefs("u1") == NotificationPrefs()
    prefs = NotificationPrefs(channels={Channel.SMS: True}, kinds={"broadcast": {Channel.EMAIL: False}})
    await store.set_prefs("u1", prefs, T0)
    assert await store.get_prefs("u1") == prefs
    await store.set_prefs("u1", NotificationPrefs(), T0)
    assert await store.get_prefs("u1") == NotificationPrefs()
    assert await store.get_prefs("u2") == NotificationPrefs()


async def test_claim_is_exclusive_and_expires(store: NotifyStore) -> None:
    due, later = message(), message(due=T0 + timedelta(minutes=5))
    email = message(Channel.EMAIL)
    for m in (due, later, email):
        await store.enqueue(m)
    assert await store.has_due([Channel.SMS], T0)
    [claimed] = await store.claim_due([Channel.SMS], "w1", T0, T0 + timedelta(seconds=60), 10)
    assert claimed.id == due.id and claimed.status == OutboxStatus.SENDING and claimed.attempts == 1
    assert claimed.claimed_by == "w1"
    assert await store.claim_due([Channel.SMS], "w2", T0, T0 + timedelta(seconds=60), 10) == []
    assert not await store.has_due([Channel.SMS], T0)

    expired = T0 + timedelta(seconds=61)
    [again] = await store.claim_due([Channel.SMS], "w2", expired, expired + timedelta(seconds=60), 1)
    assert again.id == due.id and again.attempts == 2 and again.claimed_by == "w2"
    assert not await store.mark_sent(claimed, "w1", expired, "p1"), "a lost claim must not be marked"
    assert await store.mark_sent(again, "w2", expired, "p2")
    stored = await store.get_message(due.id)
    assert stored is not None and stored.status == OutboxStatus.SENT and stored.provider_id == "p2"
    assert stored.claimed_by == "w2" and stored.claim_expires_at is None
    assert stored.text == "code 123456", "non-sensitive content is kept"
    [mail] = await store.claim_due([Channel.EMAIL], "w1", T0, T0 + timedelta(seconds=60), 10)
    assert mail.id == email.id and mail.html == "<b>x</b>"


async def test_retry_failure_and_sensitive_erasure(store: NotifyStore) -> None:
    first, second = message(sensitive=True), message(sensitive=True)
    await store.enqueue(first)
    await store.enqueue(second)
    claimed = await store.claim_due([Channel.SMS], "w1", T0, T0 + timedelta(minutes=1), 10)
    assert {m.id for m in claimed} == {first.id, second.id}
    by_id = {m.id: m for m in claimed}
    retry_at = T0 + timedelta(seconds=30)
    assert await store.mark_retry(by_id[first.id], "w1", retry_at, "provider 503")
    assert not await store.mark_retry(by_id[first.id], "w1", retry_at, "twice"), "no longer held"
    pending = await store.get_message(first.id)
    assert pending is not None and pending.status == OutboxStatus.PENDING and pending.next_try_at == retry_at
    assert pending.last_error == "provider 503" and pending.claimed_by is None and pending.text == "code 123456"
    assert not await store.has_due([Channel.SMS], T0)
    assert await store.has_due([Channel.SMS], retry_at)

    assert await store.mark_failed(by_id[second.id], "w1", "provider 400")
    failed = await store.get_message(second.id)
    assert failed is not None and failed.status == OutboxStatus.FAILED and failed.text == "" and failed.html is None

    [again] = await store.claim_due([Channel.SMS], "w1", retry_at, retry_at + timedelta(minutes=1), 10)
    assert again.attempts == 2
    assert await store.mark_sent(again, "w1", retry_at, None)
    sent = await store.get_message(first.id)
    assert sent is not None and sent.status == OutboxStatus.SENT and sent.text == "" and sent.sent_at == retry_at
    assert [m.id for m in await store.list_outbox(OutboxStatus.FAILED, 10)] == [second.id]
    assert len(await store.list_outbox(None, 10)) == 2
    assert await store.prune_outbox(T0 + timedelta(days=1)) == 2
    assert await store.list_outbox(None, 10) == []


async def test_concurrent_claimers_each_message_once(settings_for, backend: str) -> None:  # type: ignore[no-untyped-def]
    """Several connections claim from one outbox at once: every message is claimed exactly once."""
    settings = settings_for(backend)
    databases = [await open_database(settings) for _ in range(WORKERS[backend])]
    try:
        stores = [make_notify_store(d) for d in databases]
        await stores[0].init()
        for _ in range(MESSAGES[backend]):
            await stores[0].enqueue(message())

        async def drain(worker: int) -> list[str]:
            got: list[str] = []
            while batch := await stores[worker].claim_due(
                [Channel.SMS], f"w{worker}", T0, T0 + timedelta(minutes=1), 3
            ):
                got += [m.id for m in batch]
                await asyncio.sleep(0.01)  # as if sending: gives the other claimers their turn
            return got

        results = await asyncio.gather(*(drain(i) for i in range(len(stores))))
    finally:
        for database in databases:
            await database.close()
    counts = Counter(mid for got in results for mid in got)
    assert len(counts) == MESSAGES[backend]
    assert set(counts.values()) == {1}, "a message was claimed twice"
    assert sum(1 for got in results if got) >= 2, "the race never happened"


async def test_a_deferred_try_moves_from_attempts_to_deferrals(store: NotifyStore) -> None:
    """A try that found the channel unavailable is a deferral: retried or failed, it leaves the attempts alone."""
    waiting, given_up = message(), message(sensitive=True)
    await store.enqueue(waiting)
    await store.enqueue(given_up)
    claimed = {m.id: m for m in await store.claim_due([Channel.SMS], "w1", T0, T0 + timedelta(minutes=1), 10)}
    assert {m.attempts for m in claimed.values()} == {1}
    retry_at = T0 + timedelta(seconds=30)
    assert await store.mark_retry(claimed[waiting.id], "w1", retry_at, "channel unavailable: 503", deferred=True)
    assert not await store.mark_retry(claimed[waiting.id], "w1", retry_at, "twice", deferred=True), "no longer held"
    deferred = await store.get_message(waiting.id)
    assert deferred is not None and (deferred.attempts, deferred.deferrals) == (0, 1)
    assert deferred.status == OutboxStatus.PENDING and deferred.next_try_at == retry_at

    [again] = await store.claim_due([Channel.SMS], "w2", retry_at, retry_at + timedelta(minutes=1), 10)
    assert again.id == waiting.id and (again.attempts, again.deferrals) == (1, 1)
    assert await store.mark_retry(again, "w2", retry_at + timedelta(minutes=1), "450 busy")
    counted = await store.get_message(waiting.id)
    assert counted is not None and (counted.attempts, counted.deferrals) == (1, 1), "a counted try stays counted"

    assert await store.mark_failed(claimed[given_up.id], "w1", "not delivered within 72 h", deferred=True)
    failed = await store.get_message(given_up.id)
    assert failed is not None and failed.status == OutboxStatus.FAILED and (failed.attempts, failed.deferrals) == (0, 1)
    assert failed.last_error == "not delivered within 72 h" and failed.text == ""


OLD_OUTBOX = """CREATE TABLE outbox (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, recipient TEXT NOT NULL, user_id TEXT, kind TEXT NOT NULL,
    subject TEXT NOT NULL, text TEXT NOT NULL, html TEXT, sensitive INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_try_at TEXT NOT NULL, last_error TEXT, claimed_by TEXT,
    claim_expires_at TEXT, created_at TEXT NOT NULL, sent_at TEXT, provider_id TEXT
)"""


async def test_an_outbox_made_before_deferrals_gets_the_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An SQLite outbox from before ``deferrals`` existed keeps its messages and gains the column at start."""
    db = await SqliteDatabase.open(tmp_path / "old.db")
    try:
        await db.execute(OLD_OUTBOX)
        await db.execute(
            "INSERT INTO outbox (id, channel, recipient, kind, subject, text, sensitive, status, attempts,"
            " next_try_at, created_at) VALUES ('m1', 'sms', '+15550002222', 'sold', '', 'hi', 0, 'pending', 2, ?, ?)",
            (iso(T0), iso(T0)),
        )
        store = make_notify_store(db)
        await store.init()
        await store.init()  # a second start finds the column there
        old = await store.get_message("m1")
        assert old is not None and (old.attempts, old.deferrals) == (2, 0) and old.text == "hi"
        [claimed] = await store.claim_due([Channel.SMS], "w1", T0, T0 + timedelta(minutes=1), 10)
        assert await store.mark_retry(claimed, "w1", T0, "channel unavailable", deferred=True)
        retried = await store.get_message("m1")
        assert retried is not None and (retried.attempts, retried.deferrals) == (2, 1)
    finally:
        await db.close()


async def test_outbox_backlog_counts_pending_and_sending_and_finds_the_oldest(store: NotifyStore) -> None:
    assert await store.outbox_backlog() == (0, None)
    older = message().model_copy(update={"created_at": T0 - timedelta(minutes=3)})
    sent, waiting = message(), message(Channel.EMAIL)
    for m in (older, sent, waiting):
        await store.enqueue(m)
    [claimed, done] = await store.claim_due([Channel.SMS], "w1", T0, T0 + timedelta(seconds=60), 10)
    assert await store.outbox_backlog() == (3, T0 - timedelta(minutes=3))  # claimed ones are still owed
    assert await store.mark_sent(done, "w1", T0, None)
    assert await store.mark_sent(claimed, "w1", T0, None)
    assert await store.outbox_backlog() == (1, T0)
